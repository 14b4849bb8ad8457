"""DCGAN Generator and Discriminator, built from a ModelConfig.

Follows the DCGAN paper and pytorch/examples: strided ConvTranspose2d blocks with BatchNorm and
ReLU in G, strided Conv2d blocks with BatchNorm and LeakyReLU(0.2) in D, weights from N(0, 0.02).
One up/down-sampling block is added or removed for 128 or 32 pixels. The generator takes z of shape
(N, latent_dim), the layout the exported models keep, and D returns one logit per image.

With `num_attributes` k > 0 both networks also take attributes, float (N, k) in [0, 1]:
G(z, attributes) adds a learned direction per attribute to z before the stem and sets a scale and
shift per attribute after each BatchNorm, the stem's and the blocks' (conditional BatchNorm); D(x, attributes)
reads the attributes as k constant maps beside the image and adds the projection term of Miyato &
Koyama (2018) to its logit, and D(x, a, classify=True) also returns the logits of its attribute
classifier, a small network of its own that reads x alone (given the maps, it would read them).
With k = 0 (the default) the networks, their weights and their state_dict keys are exactly those
of an unconditional DCGAN.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from facegan.runtime.errors import UsageError

from .config import ModelConfig


def feature_multipliers(image_size: int) -> list[int]:
    """Channel multipliers of the feature maps from 4x4 up to image_size/2, e.g. 64 -> [8, 4, 2, 1].

    Capped at 8 so a 128-pixel model adds a block at ngf*8 instead of doubling the widest layer.
    """
    num_blocks = int(math.log2(image_size)) - 2  # 4x4 -> image_size takes this many doublings
    return [min(8, 2 ** (num_blocks - 1 - i)) for i in range(num_blocks)]


class Generator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        mults = feature_multipliers(cfg.image_size)
        c0 = cfg.ngf * mults[0]
        if cfg.stem == "convtranspose":
            # z as a 1x1 map -> (ngf*8) x 4 x 4
            self.stem = nn.Sequential(
                nn.ConvTranspose2d(cfg.latent_dim, c0, 4, 1, 0, bias=False),
                nn.BatchNorm2d(c0),
                nn.ReLU(True),
            )
        else:
            # fully connected -> (ngf*8) x 4 x 4
            self.stem = nn.Sequential(
                nn.Linear(cfg.latent_dim, c0 * 16, bias=False),
                nn.Unflatten(1, (c0, 4, 4)),
                nn.BatchNorm2d(c0),
                nn.ReLU(True),
            )
        blocks: list[nn.Module] = []
        for m_in, m_out in zip(mults[:-1], mults[1:]):
            # (ngf*m_in) x s x s -> (ngf*m_out) x 2s x 2s
            blocks += [
                nn.ConvTranspose2d(cfg.ngf * m_in, cfg.ngf * m_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(cfg.ngf * m_out),
                nn.ReLU(True),
            ]
        # (ngf) x size/2 x size/2 -> (channels) x size x size
        blocks += [
            nn.ConvTranspose2d(cfg.ngf * mults[-1], cfg.channels, 4, 2, 1, bias=False),
            nn.Tanh() if cfg.activation == "tanh" else nn.Sigmoid(),
        ]
        self.main = nn.Sequential(*blocks)
        if cfg.num_attributes > 0:
            # k attributes -> latent_dim, added to z: each attribute is a direction in z space, so the
            # stem (and every shape after it) is the unconditional one, and turning one attribute on
            # moves z along one direction, keeping the rest of the face.
            self.embed = nn.Linear(cfg.num_attributes, cfg.latent_dim, bias=False)
            # And conditional BatchNorm after every BatchNorm of the upsampling blocks (keyed by the
            # block's index in main) and after the stem's: the attributes also set each channel's scale
            # and shift at every resolution, from the head's shape at 4x4 to glasses at 16x16.
            self.film = nn.ModuleDict()  # recipe 1 (facegan 0.2.0) has none
            if cfg.conditional_recipe >= 2:
                self.film.update({str(i): AttributeScaleShift(cfg.num_attributes, m.num_features)
                                  for i, m in enumerate(blocks) if isinstance(m, nn.BatchNorm2d)})
                self.film["stem"] = AttributeScaleShift(cfg.num_attributes, c0)

    def forward(self, z: torch.Tensor, attributes: torch.Tensor | None = None) -> torch.Tensor:
        if self.cfg.num_attributes == 0 and attributes is None:
            return self.main(self.stem(self._as_stem_input(z)))
        attributes = check_attributes(self.cfg, attributes, z.shape[0])
        h = self._as_stem_input(z + self.embed(attributes))
        if "stem" in self.film:  # stem[-1] is its ReLU
            h = self.stem[-1](self.film["stem"](self.stem[:-1](h), attributes))
        else:
            h = self.stem(h)
        for i, layer in enumerate(self.main):
            h = layer(h)
            if str(i) in self.film:
                h = self.film[str(i)](h, attributes)
        return h

    def _as_stem_input(self, z: torch.Tensor) -> torch.Tensor:
        return z.reshape(z.shape[0], self.cfg.latent_dim, 1, 1) if self.cfg.stem == "convtranspose" else z


class AttributeScaleShift(nn.Module):
    """Conditional BatchNorm's affine part (de Vries et al. 2017): x * (1 + a @ gain) + a @ shift per channel.

    Placed after a plain BatchNorm2d; gain and shift (k, C) start at zero, so a new conditional
    generator draws what the unconditional one would, and each attribute learns its own change of
    every channel's scale and offset.
    """

    def __init__(self, num_attributes: int, channels: int):
        super().__init__()
        self.gain = nn.Parameter(torch.zeros(num_attributes, channels))
        self.shift = nn.Parameter(torch.zeros(num_attributes, channels))

    def forward(self, x: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        a = attributes.to(x.dtype)
        return x * (1 + a @ self.gain.to(x.dtype))[:, :, None, None] + (a @ self.shift.to(x.dtype))[:, :, None, None]


def _d_norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # one group = LayerNorm over (C, H, W): no batch coupling, safe for WGAN-GP
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class Discriminator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        mults = list(reversed(feature_multipliers(cfg.image_size)))  # 64 -> [1, 2, 4, 8]
        sn = nn.utils.parametrizations.spectral_norm if cfg.spectral_norm else (lambda m: m)

        def act() -> list[nn.Module]:
            drop = [nn.Dropout(cfg.d_dropout)] if cfg.d_dropout > 0 else []
            return [nn.LeakyReLU(0.2, inplace=True), *drop]

        # (channels) x size x size -> (ndf) x size/2 x size/2, no norm on the input layer
        # A conditional D also sees the attributes from the start: k constant maps beside the image
        # (measured: local attributes such as glasses were read far better than by projection alone)
        k = cfg.num_attributes
        layers: list[nn.Module] = [sn(nn.Conv2d(cfg.channels + k, cfg.ndf, 4, 2, 1, bias=False)), *act()]
        for m_in, m_out in zip(mults[:-1], mults[1:]):
            # (ndf*m_in) x s x s -> (ndf*m_out) x s/2 x s/2
            layers += [
                sn(nn.Conv2d(cfg.ndf * m_in, cfg.ndf * m_out, 4, 2, 1, bias=False)),
                _d_norm(cfg.d_norm, cfg.ndf * m_out),
                *act(),
            ]
        extra = 0
        if cfg.mbstd_group > 0:
            # (ndf*8) x 4 x 4 -> (ndf*8 + 1) x 4 x 4: how much the images of a group differ
            layers.append(MinibatchStdDev(cfg.mbstd_group))
            extra = 1
        # (ndf*8) x 4 x 4 -> 1 logit
        layers += [sn(nn.Conv2d(cfg.ndf * mults[-1] + extra, 1, 4, 1, 0, bias=False)), nn.Flatten(0)]
        self.main = nn.Sequential(*layers)
        if cfg.num_attributes > 0:
            # Projection: k attributes -> one weight per feature of phi(x) (the final features, before
            # the minibatch-stddev layer, which describes the batch and not the image).
            self.embed = sn(nn.Linear(cfg.num_attributes, cfg.ndf * mults[-1], bias=False))
            # And an auxiliary classifier (AC-GAN, Odena et al. 2017): one logit per attribute, trained
            # on real images; G is trained to have its faces read as asked. Its own small network:
            # a linear head on the critic's features stayed at the base rates (measured).
            if cfg.conditional_recipe >= 2:
                self.classifier = AttributeClassifier(cfg.channels, cfg.ndf, cfg.image_size, cfg.num_attributes)
            else:  # facegan 0.2.0's: a linear head on phi
                self.classify = nn.Linear(cfg.ndf * mults[-1], cfg.num_attributes)
            self.psi_layers = 2 + extra  # main[-psi_layers:] is psi: [minibatch stddev,] final conv, flatten

    def forward(self, x: torch.Tensor, attributes: torch.Tensor | None = None, *,
                classify: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The logit per image; with `classify`, also the (N, k) attribute logits of the classifier."""
        if self.cfg.num_attributes == 0 and attributes is None:
            return self.main(x)
        attributes = check_attributes(self.cfg, attributes, x.shape[0])
        maps = torch.cat([x, attributes[:, :, None, None].expand(-1, -1, *x.shape[2:]).to(x.dtype)], dim=1)
        h = self.main[: -self.psi_layers](maps)  # (ndf*8) x 4 x 4
        phi = h.sum(dim=(2, 3))  # global sum pooling, as in Miyato & Koyama's code: (N, ndf*8)
        # logit = psi(h) + <embed(y), phi(x)>. psi stays the DCGAN head (a 4x4 conv on the map, not a
        # linear on phi), so with every attribute 0 this is the unconditional D, weight for weight.
        logit = self.main[-self.psi_layers:](h) + (self.embed(attributes) * phi).sum(dim=1)
        if not classify:
            return logit
        return logit, (self.classifier(x) if self.cfg.conditional_recipe >= 2 else self.classify(phi))


class AttributeClassifier(nn.Module):
    """(N, C, S, S) images -> (N, k) attribute logits: 3x3 convolutions with GroupNorm, ReLU and
    2x2 max pooling at width, 2 width and 4 width channels (D's ndf), then a linear head on the
    (S/8 x S/8) map, so where a feature sits counts (glasses are a thin ring at the eyes, not anywhere).

    GroupNorm, not BatchNorm: it reads a batch of fakes as it reads each of them (no batch
    statistics for G to play with) and trains from DCGAN's N(0, 0.02) initialisation.
    """

    def __init__(self, channels: int, width: int, image_size: int, num_attributes: int):
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in ((channels, width), (width, 2 * width), (2 * width, 4 * width)):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.GroupNorm(math.gcd(8, c_out), c_out),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(4 * width * (image_size // 8) ** 2, num_attributes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def check_attributes(cfg: ModelConfig, attributes: torch.Tensor | None, batch: int) -> torch.Tensor:
    """The attributes a network was given, checked against its config: float (batch, num_attributes).

    Raises UsageError naming the expected and the given shape. Values are not range-checked here
    (that would synchronise with the GPU at every step): the data and the runtime give 0..1.
    """
    k = cfg.num_attributes
    if k == 0:
        raise UsageError("this model is unconditional (num_attributes=0): it takes no attributes")
    if attributes is None:
        raise UsageError(f"this model is conditional: pass attributes of shape ({batch}, {k})")
    if not isinstance(attributes, torch.Tensor) or not attributes.is_floating_point():
        kind = attributes.dtype if isinstance(attributes, torch.Tensor) else type(attributes).__name__
        raise UsageError(f"attributes must be a float tensor of shape ({batch}, {k}), got {kind}")
    if torch.jit.is_tracing():  # TorchScript export: the shapes are the example's, checked by the exporter
        return attributes
    if attributes.dim() != 2 or attributes.shape[0] != batch or attributes.shape[1] != k:
        raise UsageError(f"attributes must have shape ({batch}, {k}) (batch, num_attributes), "
                         f"got {tuple(attributes.shape)}")
    return attributes


class MinibatchStdDev(nn.Module):
    """Append one feature map: the standard deviation across a group of images (Karras et al. 2018).

    A generator that draws the same face for every z gives groups with no variance, which D can
    now see and punish. Groups are `group` images (or the largest divisor of the batch below it).
    """

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group, n)
        while n % g:
            g -= 1
        y = x.float().reshape(g, n // g, c, h, w)
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n // g,)
        feature = std.to(x.dtype).reshape(1, n // g, 1, 1, 1).expand(g, -1, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([x, feature], dim=1)





def weights_init(m: nn.Module) -> None:
    """DCGAN init: conv and linear weights N(0, 0.02); norm weights N(1, 0.02), biases 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
        nn.init.normal_(weight, 0.0, 0.02)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_models(cfg: ModelConfig, seed: int) -> tuple[Generator, Discriminator]:
    """Create G and D with DCGAN init, deterministically from `seed` (independent of global RNG)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g, d = Generator(cfg), Discriminator(cfg)
        g.apply(weights_init)
        d.apply(weights_init)
    return g, d


def generator_from_state(cfg: ModelConfig, state_dict: dict) -> Generator:
    """A Generator in eval mode with the given weights: what export, FID and the run reports draw with."""
    g = Generator(cfg)
    g.load_state_dict(state_dict)
    return g.eval()


__all__ = ["AttributeClassifier", "AttributeScaleShift", "Discriminator", "Generator", "MinibatchStdDev", "build_models", "check_attributes", "feature_multipliers", "generator_from_state", "weights_init"]
