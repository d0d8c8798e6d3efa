"""Shadow Dexterous Hand driver (lifecycle node with safety filter, watchdog and emergency stop) and PhaseSpace motion-capture node (marker fitting to object pose and fingertips)."""
