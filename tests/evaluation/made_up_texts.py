"""Reference texts for the evaluation plumbing tests: written for these real photos, not critiques
from any dataset (no real critique is paired with a photo it was not written for)."""

FAST = ("bleu", "rouge", "cider")  # METEOR's JVM start costs seconds; its wrapper has its own tests
PHOTOS = {  # a photo under ../shared/data/photos -> two made-up descriptions of it
    "mate/LadyBird.jpg": ["a red ladybird on a green leaf", "a ladybird, close up"],
    "mate/YellowFlower.jpg": ["a yellow flower", "yellow petals, soft background"],
    "misc/grace_hopper.jpg": ["a portrait of a woman in uniform", "a formal portrait"],
    "mate/Storm.jpg": ["dark storm clouds", "a stormy sky over land"],
}
