"""Test runs: batch submission (credits, variables, devices) and the jobs API."""
