"""The geometry of a sample, fixed by the method (DESIGN 3): 11 dates of 15 x 15 pixels.

A leaf module: the model, sampling and embedding all read it, and it reads nothing of cae.
"""

#: A sample is `N_DATES` dates of `PATCH_SIZE` x `PATCH_SIZE` pixels around a centre.
PATCH_SIZE = 15
N_DATES = 11
CENTER_PIXEL = PATCH_SIZE // 2
CENTER_DATE = N_DATES // 2
