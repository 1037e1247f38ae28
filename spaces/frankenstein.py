"""placeholder until optimizers.frankenstein exists"""


def frankenstein_space(name="frankenstein"):
    raise NotImplementedError
