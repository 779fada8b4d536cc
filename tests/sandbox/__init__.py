"""Tests of codealign.sandbox, including the adversarial suite (hostile.py: the samples)."""
