"""Configs and presets: one frozen dataclass per concern, saved inside every checkpoint.

`ModelConfig` is everything needed to rebuild the networks (it travels into exported models too);
`TrainConfig` is everything needed to repeat or resume the run. Presets are named variants made with
`dataclasses.replace`; CLI flags given next to a preset override it.

Each field is declared once, with `option(...)`: its default, the help sentence of its
`facegan-train` flag (`--kebab-case` of the name), its choices and bounds (checked by `validate()`),
and whether `--resume` may change it (`RESUME_CHANGEABLE`). `internal(...)` marks the few fields
that have no flag. The CLI builds its options from these fields, so a new field is one line here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from facegan.runtime.errors import UsageError

from .fields import bounds_text, check_fields, flag, internal, option

IMAGE_SIZES = (32, 64, 128)
STEMS = ("convtranspose", "linear")
ACTIVATIONS = ("tanh", "sigmoid")
D_NORMS = ("batch", "layer", "none")
LOSSES = ("bce", "lsgan", "wgan-gp", "hinge")
LR_SCHEDULES = ("constant", "linear", "cosine")
DEVICES = ("auto", "cuda", "mps", "cpu")
NAMED_DATA = ("celeba", "toy-faces")  # data sets known by name; any other --data is a folder
AUGMENTATIONS = ("color", "translation", "cutout")  # DiffAugment operations, applied in the order given
DEFAULT_PRESET = "facegan"  # what facegan-train uses when no --preset is given


def _canonical_policy(policy: str) -> str:
    """A DiffAugment policy as stored: "color, cutout" -> "color,cutout"; unknown names are refused."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in names if p not in AUGMENTATIONS]
    if unknown:
        raise UsageError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}")
    return ",".join(names)


def _absolute_data(data: str) -> str:
    # A run must find its folder from anywhere: resume, FID and reports run from other folders.
    return data if data in NAMED_DATA else str(Path(data).expanduser().resolve())


def _canonical_names(names: str) -> str:
    """A comma list as stored: "Smiling, Eyeglasses" -> "Smiling,Eyeglasses"."""
    return ",".join(n.strip() for n in str(names).split(",") if n.strip())


def _absolute_file(path: str) -> str:
    return str(Path(path).expanduser().resolve()) if str(path) else ""


@dataclass(frozen=True)
class ModelConfig:
    latent_dim: int = option(100, "Length of the latent vector z: 100 (classic DCGAN) or 128.", min=1)
    ngf: int = option(64, "Generator feature maps at the last block.", min=1)
    ndf: int = option(64, "Discriminator feature maps at the first block.", min=1)
    channels: int = internal(3, min=1)  # RGB: the data decodes every image to 3 channels
    image_size: int = option(64, "Image side in pixels: 32, 64 or 128.", choices=IMAGE_SIZES)
    stem: str = option("convtranspose", "Generator stem: convtranspose (the 1x1 latent map to 4x4) or linear "
                       "(fully connected to the 4x4 map).", choices=STEMS)
    activation: str = option("tanh", "Generator output: tanh for images in [-1, 1], sigmoid for [0, 1].",
                             choices=ACTIVATIONS)
    d_dropout: float = option(0.0, "Dropout after each discriminator LeakyReLU (0 = off).", min=0, below=1)
    d_norm: str = option("batch", "Discriminator normalisation: batch, layer (safe with wgan-gp) or none.",
                         choices=D_NORMS)
    spectral_norm: bool = option(False, "Spectral normalisation of the discriminator weights.")
    mbstd_group: int = option(0, "Minibatch standard-deviation group size in the discriminator (ProGAN; "
                              "0 = off): D sees how varied a group of images is, against mode collapse.", min=0)
    num_attributes: int = internal(0, min=0)  # length of the attribute vector G and D take (0 = unconditional)
    # How a conditional G and D take their attributes (models.py). 1: facegan 0.2.0's (G: z plus an
    # embedding; D: a linear classifier on its own features); 2: G also has conditional BatchNorm,
    # D a classifier network of its own. Checkpoints without the field are read as 1 (checkpoint.py).
    conditional_recipe: int = internal(2, min=1)

    @property
    def value_range(self) -> tuple[float, float]:
        """Range of generator outputs and of normalised training images."""
        return (-1.0, 1.0) if self.activation == "tanh" else (0.0, 1.0)

    def validate(self) -> None:
        """Raise UsageError for a config the models cannot build."""
        check_fields(self)


@dataclass(frozen=True)
class TrainConfig:
    data: str = option("celeba", "Training images: celeba (downloaded with kagglehub), toy-faces, or a folder "
                       "of images.", convert=_absolute_data)
    preset: str = option("dcgan", "Reference setup to start from (see --list-presets); the other flags "
                         "override it.")
    epochs: int = option(15, "Passes over the data.", min=0, resume=True)
    steps: int = option(0, "Stop after this many optimizer steps in total, instead of --epochs (0 = run all "
                        "epochs).", min=0, resume=True)
    batch_size: int = option(128, "Images per step, over all processes.", min=1)
    lr_g: float = option(2e-4, "Adam learning rate of G.", above=0)
    lr_d: float = option(2e-4, "Adam learning rate of D.", above=0)
    beta1: float = option(0.5, "Adam beta1 (0.5 as in the DCGAN paper).", min=0, below=1)
    beta2: float = option(0.999, "Adam beta2.", min=0, below=1)
    loss: str = option("bce", "GAN loss: bce (non-saturating), lsgan, wgan-gp or hinge.", choices=LOSSES)
    n_critic: int = option(1, "D updates per G update.", min=1)
    gp_weight: float = option(10.0, "Gradient penalty weight of wgan-gp.", min=0)
    label_smoothing: float = option(0.0, "One-sided label smoothing: the real target is 1 minus this.",
                                    min=0, below=0.5)
    label_noise: float = option(0.0, "Probability of flipping a D label.", min=0, below=0.5)
    grad_clip: float = option(0.0, "Max gradient norm of G and D (0 = off).", min=0)
    lr_schedule: str = option("constant", "Learning-rate schedule: constant, linear (decay to 0) or cosine.",
                              choices=LR_SCHEDULES)
    warmup_steps: int = option(0, "Steps of linear learning-rate warm-up.", min=0)
    ema: float = option(0.0, "EMA decay of the generator weights per G step, e.g. 0.999 (0 = off); its "
                        "half-life must fit in the run.", min=0, below=1)
    diffaug: str = option("", "DiffAugment policy: augmentations applied to every image D sees, real and fake, "
                          "from color, translation, cutout, comma-separated (empty = off).")
    r1_gamma: float = option(0.0, "Weight of the R1 gradient penalty on D's real inputs (0 = off).", min=0)
    r1_every: int = option(16, "Steps between R1 penalties (lazy regularisation), scaled up to match.", min=1)
    hflip: bool = option(False, "Mirror half of the real images at random (faces: yes; digits or text: no).")
    seed: int = option(0, "Seed of the weights, data order, noise and the fixed sample noise.", min=0)
    device: str = option("auto", "Where to train: auto picks CUDA, then MPS, then the CPU.", choices=DEVICES,
                         resume=True)
    amp: bool = option(False, "Use bf16 autocast on CUDA, or on a CPU with bf16 instructions (AVX512-BF16, "
                       "AMX).", resume=True)
    channels_last: bool = option(False, "Use the NHWC (channels-last) memory format.", resume=True)
    compile: bool = option(False, "Compile the networks with torch.compile.", resume=True)
    workers: int = option(2, "Data loader processes decoding images.", min=0, resume=True)
    cache: bool = option(True, "Decode images once into a memory-mapped uint8 cache (--no-cache: decode them "
                         "every epoch).", resume=True)
    cache_dir: str = option("", "Where decoded-image caches live (default: <out>/.cache).", cli_type=Path,
                            resume=True)
    crop: int = option(0, "Centre crop side in source pixels before resizing (0 = the largest square).", min=0)
    toy_faces: int = option(10000, "Number of images in the toy-faces data set.", min=1)
    condition: str = option("", "Attributes to condition on, comma-separated names from the labels, or all "
                            "(empty = an unconditional model).", convert=_canonical_names)
    attribute_weight: float = option(4.0, "Conditional runs: weight of the attribute classifier loss (AC-GAN: D "
                                     "learns to read the attributes of real images, G to have its faces read "
                                     "as asked; 0 = projection alone).", min=0)
    attribute_fake_weight: float = option(0.18, "Conditional runs: weight, relative to --attribute-weight, of D's "
                                          "classifier learning to read G's faces as showing neither value of any "
                                          "attribute (0.5; see --attribute-uniform-classes), so that G cannot "
                                          "satisfy it with faces unlike the real ones (0: real images only).", min=0)
    attribute_uniform_classes: bool = option(True, "Conditional runs: the undecided reading D learns for G's "
                                             "faces is, for the classes of a class column (label=k), the "
                                             "uniform 1/m over its m outcomes rather than 0.5 for each class "
                                             "(--no-attribute-uniform-classes: 0.5 for every attribute).")
    attribute_balance: bool = option(True, "Conditional runs: weigh the attribute losses (D's on real images, G's) "
                                     "by each attribute's frequency in the data, as if every attribute were on "
                                     "half the images, so rare ones are taught as firmly (--no-attribute-balance: "
                                     "every image alike).")
    labels: str = option("", "Labels CSV of a folder of images: a file column (paths relative to the folder) "
                         "and one 0/1 or -1/1 column per attribute (a label column becomes label=k).",
                         cli_type=Path, convert=_absolute_file)
    log_every: int = option(50, "Steps between metrics lines.", min=1, resume=True)
    sample_count: int = internal(64, min=1)  # images in the fixed-noise sample grid (8 x 8), drawn from --seed
    keep: int = option(3, "Per-epoch checkpoints kept besides last.pt (0 = keep all).", min=0, resume=True)
    fid_every: int = option(0, "Epochs between FID evaluations (0 = off).", min=0, resume=True)
    fid_samples: int = option(1000, "Generated and real images used for each FID evaluation.", min=2,
                              resume=True)

    def __post_init__(self):
        object.__setattr__(self, "diffaug", _canonical_policy(self.diffaug))  # one spelling per policy

    def validate(self) -> None:
        """Raise UsageError for a config training cannot run."""
        check_fields(self)
        if self.epochs < 1 and self.steps < 1:
            raise UsageError("epochs or steps must be >= 1")


# What a resumed run may change: how long it trains, and how it runs (none of these changes what
# the weights are meant to become). Anything else changes the experiment: start a new run for that.
RESUME_CHANGEABLE = frozenset(
    f.name for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls) if f.metadata.get("resume")
)


@dataclass(frozen=True)
class Preset:
    description: str  # the setup it reproduces, shown by --list-presets
    model: ModelConfig
    train: TrainConfig


_BASE_MODEL = ModelConfig()
_BASE_TRAIN = TrainConfig()

PRESETS: dict[str, Preset] = {
    "facegan": Preset(
        "facegan's own recipe for small budgets (the default): the DCGAN generator; D with spectral norm, "
        "no BatchNorm and a minibatch-stddev layer; hinge loss; DiffAugment (translation, cutout) on "
        "everything D sees; no R1; Adam 2e-4 (0, 0.99); batch 128, 64x64, 15 epochs.",
        dataclasses.replace(_BASE_MODEL, d_norm="none", spectral_norm=True, mbstd_group=4),
        dataclasses.replace(
            _BASE_TRAIN,
            preset="facegan",
            loss="hinge",
            beta1=0.0,
            beta2=0.99,
            diffaug="translation,cutout",  # lazy R1 measured no better on 3 seeds: left off (README, Quality)
        ),
    ),
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


__all__ = [
    "ACTIVATIONS", "AUGMENTATIONS", "DEFAULT_PRESET", "DEVICES", "D_NORMS", "IMAGE_SIZES", "LOSSES", "LR_SCHEDULES", "NAMED_DATA",
    "PRESETS", "RESUME_CHANGEABLE", "STEMS", "ModelConfig", "Preset", "TrainConfig", "bounds_text", "flag",
    "from_dict", "resolve",
]
