"""Media handling: locating ffmpeg, probing sources, decoding audio, cutting chunks."""
