"""Tests of bench/harness: `python3 -m unittest discover -s bench/tests -t bench`."""
