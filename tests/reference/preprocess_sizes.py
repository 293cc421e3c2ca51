"""Image sizes after the official CycleGAN training transform (data/base_dataset.py get_params and
get_transform, as unaligned_dataset calls them), written again here for sizes only: the official
helpers' arithmetic on PIL sizes (float division, int(), Python's round) is what decides them.

    /usr/bin/python3 preprocess_sizes.py '[{"preprocess": "scale_width", "load_size": 64,
                                             "crop_size": 32, "width": 50, "height": 37}]'

prints, for each case, one line "width height" of the tensor the transform makes, or "error" where
the official transform raises (a random crop larger than the image)."""
import json
import sys


class SizeOnlyImage:
    """What the transforms ask of a PIL image here: its size, resize and crop."""

    def __init__(self, width, height):
        self.size = (width, height)

    def resize(self, size):
        return SizeOnlyImage(*size)

    def crop(self, box):
        left, top, right, bottom = box
        return SizeOnlyImage(right - left, bottom - top)


def make_power_2(img, base):
    # official __make_power_2
    ow, oh = img.size
    h = int(round(oh / base) * base)
    w = int(round(ow / base) * base)
    if h == oh and w == ow:
        return img
    return img.resize((w, h))


def scale_width(img, target_size, crop_size):
    # official __scale_width
    ow, oh = img.size
    if ow == target_size and oh >= crop_size:
        return img
    w = target_size
    h = int(max(target_size * oh / ow, crop_size))
    return img.resize((w, h))


def random_crop(img, size):
    # transforms.RandomCrop(size) without padding: raises when the image is smaller
    w, h = img.size
    if w < size or h < size:
        raise ValueError("crop larger than the image")
    return img.crop((0, 0, size, size))


def transformed_size(preprocess, load_size, crop_size, width, height):
    img = SizeOnlyImage(width, height)
    if "resize" in preprocess:
        img = img.resize((load_size, load_size))
    elif "scale_width" in preprocess:
        img = scale_width(img, load_size, crop_size)
    if "crop" in preprocess:
        img = random_crop(img, crop_size)
    if preprocess == "none":
        img = make_power_2(img, base=4)
    return img.size


def main():
    for case in json.loads(sys.argv[1]):
        try:
            w, h = transformed_size(case["preprocess"], case["load_size"], case["crop_size"],
                                    case["width"], case["height"])
            print(w, h)
        except ValueError:
            print("error")


if __name__ == "__main__":
    main()
