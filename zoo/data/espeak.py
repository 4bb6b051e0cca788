"""A minimal ctypes binding to eSpeak NG, enough to synthesise short words.

The library and its voice data come from the ``espeakng-loader`` wheel, so nothing needs to
be installed system-wide. eSpeak NG keeps global state, so every call goes through one lock.
The API used (speak_lib.h): ``espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, ...)`` returns the
sample rate (22,050 Hz); a synth callback receives 16-bit PCM blocks; ``espeak_Synth`` blocks
until the text is spoken; voices are chosen with ``espeak_SetVoiceByName("en-us+m3")`` and the
prosody with ``espeak_SetParameter(espeakRATE | espeakPITCH | espeakRANGE, value, 0)``.

Synthesis is deterministic: the same text, voice and parameters give the same samples.

Phoneme events: eSpeak is initialised with ``espeakINITIALIZE_PHONEME_EVENTS`` (0x1; with
0x2 the names would be IPA, which may not fit the event's 8 bytes, so the ASCII mnemonics are
used). Each ``espeakEVENT_PHONEME`` in the callback's event list carries the phoneme's name in
``id.string`` and its absolute start in ``sample`` (at 22,050 Hz); ``espeakEVENT_END`` marks the
end. The audio is the same with events on or off (tested): only the events list differs.
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

# espeak_Initialize options; enum espeak_EVENT_TYPE
PHONEME_EVENTS, PHONEME_IPA = 0x1, 0x2
_EV_TERMINATED, _EV_END, _EV_PHONEME = 0, 5, 7


class _Event(ctypes.Structure):
    """``espeak_EVENT`` (speak_lib.h); ``id`` is the union's ``char string[8]`` view."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),  # samples since the start of the text
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)

_LOCK = threading.Lock()
_STATE: dict = {}
_OPTIONS = {"init": PHONEME_EVENTS}


def configure(*, phoneme_events: bool = True) -> None:
    """Choose, before the first synthesis in this process, whether eSpeak reports phoneme
    events (the default; the audio is the same either way)."""
    if "lib" in _STATE:
        raise EspeakError("eSpeak NG is already initialised in this process; configure first")
    _OPTIONS["init"] = PHONEME_EVENTS if phoneme_events else 0


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
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200, data, _OPTIONS["init"])
    if rate <= 0:
        raise EspeakError(f"espeak_Initialize failed ({rate}) with data path {data.decode()}")
    chunks: list[np.ndarray] = []
    events: list[tuple[int, str]] = []

    @_CALLBACK
    def on_audio(wav, n, ev):  # noqa: ANN001 - a C callback
        if wav and n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while ev and ev[i].type != _EV_TERMINATED:
            if ev[i].type == _EV_PHONEME:
                events.append((int(ev[i].sample), ev[i].id.decode("utf-8", "replace")))
            elif ev[i].type == _EV_END:
                events.append((int(ev[i].sample), ""))
            i += 1
        return 0  # continue synthesis

    lib.espeak_SetSynthCallback(on_audio)
    # keep the callback alive
    _STATE.update(lib=lib, rate=rate, chunks=chunks, events=events, callback=on_audio)
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
    wave, rate, _ = synthesize_phonemes(text, voice, seed=seed)
    return wave, rate


def synthesize_phonemes(
    text: str, voice: Voice, *, seed: int = 0
) -> tuple[np.ndarray, int, list[tuple[int, str]]]:
    """Like :func:`synthesize`, with the phoneme events: (int16 samples [T], sample rate,
    ``[(start sample, eSpeak phoneme mnemonic), ...]``), in order. The last event is
    ``(end sample, "")``; pauses are the phonemes ``_`` and ``_:``. With phoneme events off
    (:func:`configure`) only the end event is left."""
    with _LOCK:
        lib, rate = _library()
        lib.espeak_ng_SetRandSeed(int(seed))
        if lib.espeak_SetVoiceByName(voice.name.encode()) != _EE_OK:
            raise EspeakError(f"eSpeak NG has no voice {voice.name!r}")
        for param, value in ((_RATE, voice.rate), (_PITCH, voice.pitch), (_RANGE, voice.range)):
            if lib.espeak_SetParameter(param, int(value), 0) != _EE_OK:
                raise EspeakError(f"espeak_SetParameter({param}, {value}) failed")
        chunks: list[np.ndarray] = _STATE["chunks"]
        events: list[tuple[int, str]] = _STATE["events"]
        chunks.clear()
        events.clear()
        buf = text.encode("utf-8") + b"\0"
        err = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != _EE_OK:
            raise EspeakError(f"espeak_Synth({text!r}) failed with code {err}")
        out = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        evs = list(events)
        chunks.clear()
        events.clear()
    return out.astype(np.int16, copy=False), rate, evs
