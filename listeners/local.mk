# listeners rules
