"""`python -m facegan.train` is `facegan-train` (and what torchrun launches with `-m`)."""

from .cli import main

main()
