"""Size limits shared by the number systems and the command line, in a module that imports
nothing heavy (``symsteer --help`` must not load sympy)."""

#: the largest numerator or denominator (in bits) exact arithmetic goes on with
MAX_EXACT_BITS = 1 << 20
