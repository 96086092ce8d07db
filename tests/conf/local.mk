# tests/conf rules
