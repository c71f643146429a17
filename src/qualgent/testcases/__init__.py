"""Test cases: versioned plain-English steps with declared variables."""
