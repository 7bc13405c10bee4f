"""From chunk transcripts to outputs: merge, alignment, speakers, vocabulary, subtitles, formats."""
