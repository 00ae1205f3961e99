"""The fixed sentence list both synthetic corpora speak, and LibriSpeech-style transcript normalisation."""

from __future__ import annotations

import re

# Short (3-7 words: 1-3 s at espeak's rates), emotionally ambiguous, so that only prosody carries the emotion;
# no digits or abbreviations, so the spoken words are exactly the normalised transcript.
SENTENCES = (
    "I will be there tomorrow.",
    "Where did you put the keys?",
    "The train leaves at noon.",
    "She told me about it yesterday.",
    "We have to talk now.",
    "That is not what I said.",
    "Did you see the letter?",
    "He is coming back tonight.",
    "I don't know what to say.",
    "The door was open all day.",
    "You never called me back.",
    "It is raining again outside.",
    "They sold the old house.",
    "Can you hear me now?",
    "I found it on the table.",
    "We are leaving in an hour.",
    "This is the last time.",
    "My brother lives in town.",
    "The meeting is on Monday.",
    "Just give me a minute.",
    "I read the whole book.",
    "Nobody told me anything.",
    "The shop closes at six.",
    "She bought a new car.",
    "Let's go for a walk.",
    "I have seen this before.",
    "The kids are still asleep.",
    "Why are you telling me this?",
    "Everything is ready for tonight.",
    "He wrote his name there.",
    "Take the next road left.",
    "The phone rang twice.",
    "I waited for you all night.",
    "We got the results today.",
    "It was a long week.",
    "Put the box over there.",
    "You can keep the rest.",
    "The lights went out again.",
    "They moved to the coast.",
    "I think it's my turn.",
)

_NOT_SPOKEN = re.compile(r"[^A-Z' ]+")


def normalize_transcript(text: str) -> str:
    """Uppercase letters, apostrophes and single spaces, as in LibriSpeech transcripts."""
    return " ".join(_NOT_SPOKEN.sub(" ", text.upper()).split())
