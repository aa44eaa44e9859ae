"""Adversarial corpus (built in code) and the bounded-behaviour tests that run it through the engine."""
