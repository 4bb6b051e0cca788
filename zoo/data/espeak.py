"""A minimal ctypes binding to eSpeak NG, enough to synthesise short words.

The library and its voice data come from the ``espeakng-loader`` wheel, so nothing needs to
be installed system-wide. eSpeak NG keeps global state, so every call goes through one lock.
The API used (speak_lib.h): ``espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, ...)`` returns the
sample rate (22,050 Hz); a synth callback receives 16-bit PCM blocks; ``espeak_Synth`` blocks
until the text is spoken; voices are chosen with ``espeak_SetVoiceByName("en-us+m3")`` and the
prosody with ``espeak_SetParameter(espeakRATE | espeakPITCH | espeakRANGE, value, 0)``.

Synthesis is deterministic: the same text, voice and parameters give the same samples.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

# enum espeak_AUDIO_OUTPUT
_AUDIO_OUTPUT_SYNCHRONOUS = 2
# enum espeak_POSITION_TYPE
_POS_CHARACTER = 1
# enum espeak_PARAMETER
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_CHARS_UTF8 = 1
_EE_OK = 0

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_LOCK = threading.Lock()
_STATE: dict = {}


class EspeakError(RuntimeError):
    """eSpeak NG could not be loaded or refused a request."""


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an eSpeak voice name (with variant) and its prosody.

    ``rate`` is words per minute (80-450), ``pitch`` the base pitch (0-100) and ``range`` the
    pitch range (0-100), as eSpeak's ``espeak_SetParameter`` takes them.
    """

    name: str
    rate: int = 160
    pitch: int = 50
    range: int = 50


def _library() -> tuple[ctypes.CDLL, int]:
    """Load and initialise libespeak-ng once; return it and its sample rate."""
    if "lib" in _STATE:
        return _STATE["lib"], _STATE["rate"]
    try:
        import espeakng_loader
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise EspeakError(
            "the spoken_digits data set needs eSpeak NG from the `espeakng-loader` wheel: "
            "pip install espeakng-loader"
        ) from e
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    data = espeakng_loader.get_data_path().encode()
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200, data, 0)
    if rate <= 0:
        raise EspeakError(f"espeak_Initialize failed ({rate}) with data path {data.decode()}")
    chunks: list[np.ndarray] = []

    @_CALLBACK
    def on_audio(wav, n, _events):  # noqa: ANN001 - a C callback
        if wav and n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # continue synthesis

    lib.espeak_SetSynthCallback(on_audio)
    _STATE.update(lib=lib, rate=rate, chunks=chunks, callback=on_audio)  # keep callback alive
    return lib, rate


def sample_rate() -> int:
    """The rate eSpeak NG synthesises at (22,050 Hz)."""
    with _LOCK:
        return _library()[1]


def synthesize(text: str, voice: Voice, *, seed: int = 0) -> tuple[np.ndarray, int]:
    """Speak ``text`` with ``voice``; return (int16 samples [T], sample rate).

    ``seed`` seeds eSpeak's noise generator (``espeak_ng_SetRandSeed``), which otherwise
    makes every call differ by a few samples.
    """
    with _LOCK:
        lib, rate = _library()
        lib.espeak_ng_SetRandSeed(int(seed))
        if lib.espeak_SetVoiceByName(voice.name.encode()) != _EE_OK:
            raise EspeakError(f"eSpeak NG has no voice {voice.name!r}")
        for param, value in ((_RATE, voice.rate), (_PITCH, voice.pitch), (_RANGE, voice.range)):
            if lib.espeak_SetParameter(param, int(value), 0) != _EE_OK:
                raise EspeakError(f"espeak_SetParameter({param}, {value}) failed")
        chunks: list[np.ndarray] = _STATE["chunks"]
        chunks.clear()
        buf = text.encode("utf-8") + b"\0"
        err = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != _EE_OK:
            raise EspeakError(f"espeak_Synth({text!r}) failed with code {err}")
        out = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        chunks.clear()
    return out.astype(np.int16, copy=False), rate
