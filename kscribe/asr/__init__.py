"""Speech recognition: decoding options, faster-whisper, coverage, models, languages, voices."""
