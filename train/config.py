"""Configs and presets: one frozen dataclass per concern, saved inside every checkpoint.

`ModelConfig` is everything needed to rebuild the networks (it travels into exported models too);
`TrainConfig` is everything needed to repeat or resume the run. Presets are named variants made with
`dataclasses.replace`; CLI flags given next to a preset override it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from facegan.runtime.errors import UsageError

IMAGE_SIZES = (32, 64, 128)
STEMS = ("convtranspose", "linear")
ACTIVATIONS = ("tanh", "sigmoid")
D_NORMS = ("batch", "layer", "none")
LOSSES = ("bce", "lsgan", "wgan-gp", "hinge")
LR_SCHEDULES = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class ModelConfig:
    latent_dim: int = 100  # length of z; 100 (classic) or 128
    ngf: int = 64  # generator feature maps at the last block
    ndf: int = 64  # discriminator feature maps at the first block
    channels: int = 3  # RGB
    image_size: int = 64  # 32, 64 or 128 pixels square
    stem: str = "convtranspose"  # "convtranspose": 1x1 -> 4x4 deconv; "linear": FC to 4x4 map
    activation: str = "tanh"  # generator output: "tanh" -> [-1, 1], "sigmoid" -> [0, 1]
    d_dropout: float = 0.0  # dropout after each discriminator LeakyReLU (0 = off)
    d_norm: str = "batch"  # discriminator norm: "batch", "layer" (WGAN-GP safe) or "none"
    spectral_norm: bool = False  # spectral normalisation on discriminator weights

    @property
    def value_range(self) -> tuple[float, float]:
        """Range of generator outputs and of normalised training images."""
        return (-1.0, 1.0) if self.activation == "tanh" else (0.0, 1.0)

    def validate(self) -> None:
        """Raise ValueError for a config the models cannot build."""
        _check_choice("image_size", self.image_size, IMAGE_SIZES)
        _check_choice("stem", self.stem, STEMS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("d_norm", self.d_norm, D_NORMS)
        for name in ("latent_dim", "ngf", "ndf", "channels"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.d_dropout < 1.0:
            raise UsageError(f"d_dropout must be in [0, 1), got {self.d_dropout}")


@dataclass(frozen=True)
class TrainConfig:
    data: str = "celeba"  # "celeba", "toy-faces" or a folder of images
    preset: str = "dcgan"  # the preset this config started from
    epochs: int = 15  # passes over the data
    steps: int = 0  # stop after this many optimizer steps in total (0 = run all epochs)
    batch_size: int = 128  # images per step, over all processes
    lr_g: float = 2e-4  # Adam learning rate of G
    lr_d: float = 2e-4  # Adam learning rate of D
    beta1: float = 0.5  # Adam beta1 (0.5 as in the DCGAN paper)
    beta2: float = 0.999  # Adam beta2
    loss: str = "bce"  # "bce" (non-saturating), "lsgan", "wgan-gp" or "hinge"
    n_critic: int = 1  # D updates per G update
    gp_weight: float = 10.0  # gradient penalty weight (wgan-gp)
    label_smoothing: float = 0.0  # one-sided: real target is 1 - this
    label_noise: float = 0.0  # probability of flipping a D label
    grad_clip: float = 0.0  # max gradient norm of G and D (0 = off)
    lr_schedule: str = "constant"  # "constant", "linear" (decay to 0) or "cosine"
    warmup_steps: int = 0  # linear learning-rate warm-up
    ema: float = 0.0  # EMA decay of G weights, e.g. 0.999 (0 = off)
    seed: int = 0  # seeds weights, data order, noise and the fixed sample noise
    device: str = "auto"  # "auto", "cuda", "mps" or "cpu"
    amp: bool = False  # bf16 autocast on CUDA or the CPU (fast with AVX512-BF16/AMX)
    channels_last: bool = False  # NHWC memory format
    compile: bool = False  # torch.compile the networks
    workers: int = 2  # data loader processes for JPEG decoding
    cache: bool = True  # decode images once into a memory-mapped uint8 cache
    cache_dir: str = ""  # where decode caches live ("" = <out>/.cache)
    crop: int = 0  # centre crop side in source pixels before resizing (0 = largest square)
    toy_faces: int = 10000  # number of images in the toy-faces data set
    log_every: int = 50  # steps between metrics lines
    sample_count: int = 64  # images in the fixed-noise sample grid
    keep: int = 3  # per-epoch checkpoints kept besides last.pt (0 = keep all)
    fid_every: int = 0  # epochs between FID evaluations (0 = off)
    fid_samples: int = 1000  # generated and real images used for FID

    def validate(self) -> None:
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("device", self.device, ("auto", "cuda", "mps", "cpu"))
        if self.epochs < 1 and self.steps < 1:
            raise UsageError("epochs or steps must be >= 1")
        if self.batch_size < 1:
            raise UsageError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise UsageError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if not 0.0 <= self.label_noise < 0.5:
            raise UsageError(f"label_noise must be in [0, 0.5), got {self.label_noise}")
        if not 0.0 <= self.ema < 1.0:
            raise UsageError(f"ema must be in [0, 1), got {self.ema}")
        if self.n_critic < 1:
            raise UsageError(f"n_critic must be >= 1, got {self.n_critic}")
        for name in ("lr_g", "lr_d"):
            if not 0.0 < getattr(self, name) < float("inf"):
                raise UsageError(f"{name} must be a positive number, got {getattr(self, name)}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UsageError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("gp_weight", "grad_clip", "warmup_steps", "steps", "epochs", "crop", "keep", "workers", "fid_every"):
            if not 0 <= getattr(self, name) < float("inf"):
                raise UsageError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        for name, minimum in (("toy_faces", 1), ("log_every", 1), ("sample_count", 1), ("fid_samples", 2)):
            if getattr(self, name) < minimum:
                raise UsageError(f"{name} must be >= {minimum}, got {getattr(self, name)}")


# What a resumed run may change: how long it trains, and how it runs (none of these changes what
# the weights are meant to become). Anything else changes the experiment: start a new run for that.
RESUME_CHANGEABLE = frozenset(
    {"epochs", "steps", "device", "workers", "log_every", "keep", "cache", "cache_dir", "amp",
     "channels_last", "compile", "fid_every", "fid_samples"}
)


@dataclass(frozen=True)
class Preset:
    description: str  # the setup it reproduces, shown by --list-presets
    model: ModelConfig
    train: TrainConfig


_BASE_MODEL = ModelConfig()
_BASE_TRAIN = TrainConfig()

PRESETS: dict[str, Preset] = {
    "dcgan": Preset(
        "The classic PyTorch DCGAN (pytorch/examples): ConvTranspose stem, latent 100, "
        "ngf=ndf=64, tanh, BCE, Adam 2e-4 (0.5, 0.999), batch 128, 64x64, 15 epochs.",
        _BASE_MODEL,
        dataclasses.replace(_BASE_TRAIN, preset="dcgan"),
    ),
    "dcgan-linear": Preset(
        "DCGAN with a fully connected stem (Linear to 4x4x(ngf*8)), latent 100, tanh, BCE, "
        "batch 128, 15 epochs.",
        dataclasses.replace(_BASE_MODEL, stem="linear"),
        dataclasses.replace(_BASE_TRAIN, preset="dcgan-linear"),
    ),
    "dcgan-linear-128": Preset(
        "Linear stem to 4x4x512, latent 128, tanh, Adam (0.5, 0.999), 20 epochs.",
        dataclasses.replace(_BASE_MODEL, stem="linear", latent_dim=128),
        dataclasses.replace(_BASE_TRAIN, preset="dcgan-linear-128", epochs=20),
    ),
    "dcgan-sigmoid": Preset(
        "Sigmoid output with images in [0, 1], latent 100, BCE, 15 epochs.",
        dataclasses.replace(_BASE_MODEL, activation="sigmoid"),
        dataclasses.replace(_BASE_TRAIN, preset="dcgan-sigmoid"),
    ),
    "dcgan-stable": Preset(
        "DCGAN with stabilisers: D dropout 0.3, one-sided label smoothing 0.1, label noise 0.05, "
        "gradient clipping 10, cosine learning-rate schedule with 500 warm-up steps, G EMA 0.999.",
        dataclasses.replace(_BASE_MODEL, d_dropout=0.3),
        dataclasses.replace(
            _BASE_TRAIN,
            preset="dcgan-stable",
            label_smoothing=0.1,
            label_noise=0.05,
            grad_clip=10.0,
            lr_schedule="cosine",
            warmup_steps=500,
            ema=0.999,
        ),
    ),
}


def resolve(preset: str, model_overrides: dict, train_overrides: dict) -> tuple[ModelConfig, TrainConfig]:
    """Start from a preset and apply the given overrides (None values are ignored); validate."""
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    p = PRESETS[preset]
    model = dataclasses.replace(p.model, **{k: v for k, v in model_overrides.items() if v is not None})
    train = dataclasses.replace(
        p.train, preset=preset, **{k: v for k, v in train_overrides.items() if v is not None}
    )
    if train.loss == "wgan-gp" and model.d_norm == "batch":
        # The gradient penalty is per sample; BatchNorm couples samples, so the critic needs another
        # norm (Gulrajani et al. use layer norm). Switch silently unless BatchNorm was asked for.
        if model_overrides.get("d_norm") == "batch":
            raise UsageError("--loss wgan-gp needs a critic without BatchNorm: use --d-norm layer or none")
        model = dataclasses.replace(model, d_norm="layer")
    model.validate()
    train.validate()
    return model, train


def from_dict(cls, d: dict):
    """Rebuild a config from its saved dict, ignoring keys this version does not know."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
