"""MuJoCo stand-in for all the hardware."""
