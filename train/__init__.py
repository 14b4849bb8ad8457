"""facegan.train: DCGAN training on CelebA, a folder of images, or the built-in toy faces."""

from facegan.runtime import __version__

__all__ = ["__version__"]
