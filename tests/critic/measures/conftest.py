import pytest


@pytest.fixture(scope="session")
def open_check_photo(shared_data):
    """name -> the check photo at 1024 px: "nus-406" (NUS 401-500), "skimage-coffee", "mate-Garden"
    (photos/<folder>/<stem>.jpg), as scripts/check_measures.py opens them."""
    from asemllm.critic.dataset import Photo, evaluation_photos, open_photo

    def opened(name: str):
        if name.startswith("nus-"):
            photo = next(p for p in evaluation_photos(shared_data) if p.id == name)
        elif name.startswith("skimage-"):
            photo = Photo(name, f"skimage:{name.split('-', 1)[1]}")
        else:
            sub, stem = name.split("-", 1)
            photo = Photo(name, str(shared_data / "photos" / sub / f"{stem}.jpg"))
        return open_photo(photo, side=1024)

    return opened

