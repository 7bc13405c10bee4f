from kscribe.transcript.quality import normalize, word_error_rate


def test_normalize_ignores_case_and_punctuation():
    assert normalize("Hello, World! It's") == ["hello", "world", "it's"]


def test_word_error_rate_counts_edits():
    assert word_error_rate("the cat sat", "the cat sat") == 0
    assert word_error_rate("the cat sat", "the bat sat") == 1 / 3
    assert word_error_rate("the cat sat", "the cat") == 1 / 3
    assert word_error_rate("the cat", "the cat sat down") == 1.0
