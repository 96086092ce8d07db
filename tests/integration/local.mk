# tests/integration rules
