"""The fidelity suite of bench/fidelity.py: dojax beside MuJoCo on the same model files."""
