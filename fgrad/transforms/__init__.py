"""Transforms: Program -> Program (vjp, jvp, simplify) and the function transforms built on them."""
