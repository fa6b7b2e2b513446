"""sockspec: a conformance suite for the Linux socket layer."""
