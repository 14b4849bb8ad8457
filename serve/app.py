"""The facegan HTTP API on FastAPI: faces, morphs, the model's metadata, health, and the demo page.

    app = create_app(FaceGenerator("model.onnx"), Limits(concurrency=1), cors_origins=["https://example.org"])

Routes (all GET; every parameter is a number or one of a few words, none names a file):

    /v1/faces?seed=0&n=1&truncation=1&format=png|jpeg|webp&nrow=8   one face, or a grid for n > 1
        &attr=Smiling=1,Eyeglasses=0     a conditional model's attributes (unset ones drawn from its prior)
        &edit=Smiling=2                  moves along the model's directions (z + 2 * the Smiling direction)
    /v1/morph?seed_a=0&seed_b=1&steps=16&method=slerp|lerp&truncation=1&duration_ms=80[&attr=...]   a GIF
    /v1/morph?...&frame=k[&format=png|jpeg|webp]                    frame k of that morph only
    /v1/model      the model's metadata, attributes, directions, sha256 and this server's limits (JSON)
    /healthz       {"status": "ok", ...}
    /, /config.json and the page's files (facegan.web)              the demo page, backend "http"

Images carry a strong ETag and `Cache-Control: public, max-age=31536000, immutable`; a matching
If-None-Match gets a 304 without generating anything. Unknown or repeated parameters are refused
(422), so a typo such as `seeds=3` is an error instead of seed 0; only attr= and edit= may be
repeated (their lists are joined; see conditions.py). Errors: see handlers.py.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time, and
# those of create_app's routes name its local `limits`, which a string annotation cannot reach.
import logging
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated, Optional

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from facegan.runtime import __version__
from facegan.runtime.console import choice_enum
from facegan.runtime.errors import UsageError
from facegan.runtime.images import encode, grid, grid_shape
from facegan.runtime.latents import INTERPOLATION_METHODS, lerp

from . import caching, conditions, pages
from .encode import IMAGE_FORMATS, MEDIA_TYPES, MORPH_FORMAT, encode_image
from .handlers import install_error_handlers
from .limits import MAX_SEED, GenerationPool, Limits, check_response_size, estimate_bytes

log = logging.getLogger("facegan.serve")

API = "/v1"
DEFAULT_NROW = 8  # faces per grid row, as facegan-generate
DEFAULT_STEPS = 16
DEFAULT_DURATION_MS = 80

ImageFormat = choice_enum("ImageFormat", IMAGE_FORMATS)
MorphFormat = choice_enum("MorphFormat", (MORPH_FORMAT, *IMAGE_FORMATS))
Method = choice_enum("Method", INTERPOLATION_METHODS)

Seed = Annotated[int, Query(ge=0, le=MAX_SEED, description="Seed of the latents (0 <= seed < 2^64).")]
Truncation = Annotated[float, Query(ge=0.0, allow_inf_nan=False, description="Scale of the latents (1 = off).")]
Attr = Annotated[Optional[list[str]], Query(description="Attributes of a conditional model: Smiling=1,Eyeglasses=0.")]
Edit = Annotated[Optional[list[str]], Query(description="Moves along the model's directions: Smiling=2,Eyeglasses=-1.")]
REPEATABLE = ("attr", "edit")  # comma lists that may also come as repeated parameters


class Service:
    """What the routes share: the generator, its file's sha256 and metadata, the generation pool."""

    def __init__(self, generator, limits: Limits) -> None:
        self.generator = generator  # a facegan.runtime.FaceGenerator (thread-safe)
        self.limits = limits
        self.pool = GenerationPool(limits)
        self.sha256 = caching.file_sha256(generator.path)
        props = generator.session.get_modelmeta().custom_metadata_map
        self.metadata = {k: v for k, v in sorted(props.items()) if k.startswith("facegan.")}

    def model_info(self) -> dict:
        gen, meta = self.generator, self.generator.metadata
        return {
            "name": gen.path.name,
            "sha256": self.sha256,
            "latent_dim": gen.latent_dim,
            "image_size": gen.image_size,
            "channels": gen.channels,
            "output_dtype": meta.output_dtype,
            "preset": meta.preset,
            "weights": meta.weights,
            "train_step": meta.train_step,
            "latents": self.metadata.get("facegan.latents"),
            "providers": gen.providers,
            "facegan_version": __version__,
            "formats": {"faces": list(IMAGE_FORMATS), "morph": [MORPH_FORMAT], "morph_frame": list(IMAGE_FORMATS)},
            "limits": asdict(self.limits),
            **conditions.describe(gen, self.metadata),  # "attributes": {names, frequencies}, "directions": {names}
            "metadata": self.metadata,  # the model's facegan.* metadata_props, verbatim strings
        }


def known_params(*names: str):
    """A dependency refusing query parameters a route does not take, and repeated ones."""
    allowed = frozenset(names)

    def check(request: Request) -> None:
        keys = [k for k, _ in request.query_params.multi_items()]
        unknown = sorted(set(keys) - allowed)
        if unknown:
            takes = ", ".join(sorted(allowed)) or "none"
            raise UsageError(f"unknown parameter {unknown[0][:40]!r}; {request.url.path} takes {takes}")
        repeated = sorted(k for k in set(keys) if keys.count(k) > 1 and k not in REPEATABLE)
        if repeated:
            raise UsageError(f"parameter {repeated[0]!r} is given more than once")

    return Depends(check)


async def image_response(
    request: Request, service: Service, query: str, media_type: str, estimated: int, what: str, work,
) -> Response:
    """The shared tail of the image routes: 304 when cached, the size cap, a pooled generation, headers."""
    tag = caching.etag(service.sha256, query)
    headers = {"ETag": tag, "Cache-Control": caching.CACHE_FOREVER}
    if caching.not_modified(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    check_response_size(estimated, service.limits, what)
    return Response(await service.pool.run(work), media_type=media_type, headers=headers)


def create_app(generator, limits: Limits = Limits(), cors_origins: tuple[str, ...] | list[str] = ()) -> FastAPI:
    """The FastAPI app serving `generator` (a FaceGenerator) within `limits`; see the module docstring."""
    service = Service(generator, limits)
    size, channels = generator.image_size, generator.channels

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.pool.shutdown()

    app = FastAPI(title="facegan", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = service
    install_error_handlers(app)
    if cors_origins:
        app.add_middleware(
            # If-None-Match is not a CORS-safelisted header: a script that revalidates needs it allowed.
            CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET"], allow_headers=["If-None-Match"],
            expose_headers=["ETag", "Retry-After"], max_age=600,
        )

    @app.get(f"{API}/faces", dependencies=[known_params("seed", "n", "truncation", "format", "nrow", "attr", "edit")])
    async def faces(
        request: Request,
        seed: Seed = 0,
        n: Annotated[int, Query(ge=1, le=limits.max_n, description="Faces; a grid when more than 1.")] = 1,
        truncation: Truncation = 1.0,
        fmt: Annotated[ImageFormat, Query(alias="format")] = ImageFormat.png,
        nrow: Annotated[Optional[int], Query(ge=1, le=limits.max_n, description="Faces per grid row.")] = None,
        attr: Attr = None,
        edit: Edit = None,
    ) -> Response:
        nrow = min(nrow or DEFAULT_NROW, n)
        attributes, edits = conditions.parse(attr, "attr"), conditions.parse(edit, "edit")
        conditions.check_attributes(generator, attributes)
        conditions.check_edits(generator, edits)
        edits = conditions.moves(edits)
        params = {"seed": seed, "n": n, "truncation": truncation, "format": fmt, "nrow": nrow}
        params.update(conditions.query_params(attributes, edits))
        query = caching.canonical_query("faces", params)
        # One face is sent as it is (no padding); more are tiled by runtime.images.grid.
        height, width, _ = (size, size, channels) if n == 1 else grid_shape(n, size, size, channels, nrow)

        def work() -> bytes:
            # attributes= only when some are asked for (none: a conditional model draws them all).
            given = {"attributes": attributes} if attributes else {}
            if edits:
                images = generator.edit(seed, edits, n=n, truncation=truncation, **given)
            else:
                images = generator.generate(n, seed, truncation=truncation, **given)
            return encode_image(images[0] if n == 1 else grid(images, nrow), fmt.value)

        return await image_response(
            request, service, query, MEDIA_TYPES[fmt.value], estimate_bytes(width, height, channels), f"a {width}x{height} image", work,
        )

    @app.get(f"{API}/morph", dependencies=[known_params(
        "seed_a", "seed_b", "steps", "method", "truncation", "frame", "format", "duration_ms", "attr")])
    async def morph(
        request: Request,
        seed_a: Seed = 0,
        seed_b: Seed = 1,
        steps: Annotated[int, Query(ge=2, le=limits.max_steps, description="Frames, both ends included.")] = DEFAULT_STEPS,
        method: Method = Method.slerp,
        truncation: Truncation = 1.0,
        frame: Annotated[Optional[int], Query(ge=0, description="Only this frame (0-based), as one image.")] = None,
        fmt: Annotated[Optional[MorphFormat], Query(alias="format")] = None,
        duration_ms: Annotated[int, Query(ge=10, le=10_000, description="Milliseconds per GIF frame.")] = DEFAULT_DURATION_MS,
        attr: Attr = None,
    ) -> Response:
        fmt_name = (fmt.value if fmt is not None else None) or (MORPH_FORMAT if frame is None else "png")
        if frame is None and fmt_name != MORPH_FORMAT:
            raise UsageError(f"a whole morph is a GIF; add frame=k for one frame as {fmt_name}")
        if frame is not None and fmt_name == MORPH_FORMAT:
            raise UsageError(f"frame={frame} is one image: format must be one of {', '.join(IMAGE_FORMATS)}")
        if frame is not None and frame >= steps:
            raise UsageError(f"frame must be below steps ({steps}), got {frame}")
        params = {"seed_a": seed_a, "seed_b": seed_b, "steps": steps, "method": method, "truncation": truncation, "format": fmt_name}
        params.update({"frame": frame} if frame is not None else {"duration_ms": duration_ms})
        attributes = conditions.parse(attr, "attr")
        conditions.check_attributes(generator, attributes)
        params.update(conditions.query_params(attributes, {}))
        frames = 1 if frame is not None else steps

        def work() -> bytes:
            given = {"attributes": attributes} if attributes else {}
            if frame is not None:
                z = generator.interpolation_latents(seed_a, seed_b, steps, method.value)[frame : frame + 1]
                if generator.attributes:  # the attribute rows of both ends, interpolated linearly (as interpolate)
                    ends = [generator.attribute_vectors(1, s, attributes or None)[0] for s in (seed_a, seed_b)]
                    given = {"attributes": lerp(*ends, steps)[frame : frame + 1]}
                return encode_image(generator.generate_from_latents(z, truncation=truncation, **given)[0], fmt_name)
            images = generator.interpolate(seed_a, seed_b, steps, method.value, truncation=truncation, **given)
            return encode(images, MORPH_FORMAT, duration_ms=duration_ms)

        return await image_response(
            request, service, caching.canonical_query("morph", params), MEDIA_TYPES[fmt_name],
            estimate_bytes(size, size, channels, frames), f"a {frames}-frame {size}x{size} morph", work,
        )

    @app.get(f"{API}/model", dependencies=[known_params()])
    async def model() -> Response:
        return pages.json_response(service.model_info(), caching.NO_CACHE)

    @app.get("/healthz")  # any query string: a probe's cache buster must not read as "unhealthy"
    async def healthz() -> Response:
        slots = service.pool.slots
        return pages.json_response({"status": "ok", "busy_slots": slots.busy, "slots": slots.count}, caching.NO_STORE)

    pages.add_page_routes(app, lambda: {
        "backend": "http", "api": API, "metadata": service.metadata,
        "limits": {"max_n": limits.max_n, "max_steps": limits.max_steps},
    })
    return app


__all__ = ["API", "Service", "create_app"]
