"""`python -m facegan.runtime` runs facegan-generate."""

from .cli import main

if __name__ == "__main__":
    main()
