"""Samples: the spatial blocks a cube is split into (`blocks`), where samples lie and how they
are cut (`windows`), and the torch datasets training and evaluation read (`datasets`)."""
