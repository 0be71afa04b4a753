"""Normalisation on its own."""

from __future__ import annotations

from server.search.text import fold, words


def test_words_fold_case_accents_and_punctuation() -> None:
    assert words("Beyoncé — Déjà Vu (Live)") == ["beyonce", "deja", "vu", "live"]
    assert words("Straße, Øresund, Don't Stop") == ["strasse", "oresund", "dont", "stop"]
    assert words("AC/DC") == ["ac", "dc"]
    assert words("   ") == []
    assert fold("ÉCOLE") == "ecole"
