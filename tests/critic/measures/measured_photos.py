"""What the measure tests read off a photo (imported by them; pytest puts this folder on sys.path)."""


def measured(image, saliency=None):
    """(attributes, values) of a photo, with a uniform saliency map unless one is given (the motion,
    processing and harmony measures do not read it)."""
    import numpy as np

    from asemllm.critic.attributes import measure
    from asemllm.critic.teacher import values

    attrs = measure(image, saliency=np.ones((image.height, image.width)) if saliency is None else saliency)
    return attrs, values(attrs)


def states(attrs, rule_id: str, aspect: str = "color_lighting") -> bool:
    """Whether the teacher's critique of `aspect` on these attributes states the rule, in a sentence
    the checker reads as that rule alone."""
    import random

    from asemllm.critic.teacher import critique, recognise

    said = critique(attrs, aspect, random.Random(0))
    hits = [c for c in said.claims if c.rule == rule_id]
    return bool(hits) and recognise(hits[0].statement) == [rule_id]
