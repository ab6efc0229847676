"""What the measure tests read off a photo (imported by them; pytest puts this folder on sys.path)."""


def measured(image, saliency=None):
    """(attributes, values) of a photo, with a uniform saliency map unless one is given (the motion,
    processing and harmony measures do not read it)."""
    import numpy as np

    from asemllm.critic.attributes import measure
    from asemllm.critic.teacher import values

    attrs = measure(image, saliency=np.ones((image.height, image.width)) if saliency is None else saliency)
    return attrs, values(attrs)
