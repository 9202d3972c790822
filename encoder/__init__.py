"""Z3 encodings of the program model and the loops that solve them."""
