"""The B-spline engine that the KAN and the B-spline MLP share: exact uniform B-spline
bases in closed form with analytic backward (bspline.py), their polynomial pieces
(pieces.py), the C++ CPU kernels (native.py, csrc/) and the Triton GPU kernels
(gpu_kernels.py, triton_spline.py).

A subpackage of its own so that `kanfair.models` reads as the list of families; none of
these modules knows about any family.
"""
