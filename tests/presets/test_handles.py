import pytest

from keras_mae.presets.handles import (
    BuiltinHandle,
    HubHandle,
    LocalHandle,
    parse_preset,
)

BUILTINS = frozenset({"gan_demo"})


def test_builtin_name():
    assert parse_preset("gan_demo", BUILTINS) == BuiltinHandle("gan_demo")


@pytest.mark.parametrize(
    "preset, repo_id, revision",
    [
        ("hf://owner/name", "owner/name", None),
        ("hf://owner/name@v1.0", "owner/name", "v1.0"),
        ("hf://keras-mae/gan_mnist@" + "a" * 40, "keras-mae/gan_mnist", "a" * 40),
        ("hf://owner/name@refs/pr/3", "owner/name", "refs/pr/3"),
    ],
)
def test_hub_handles(preset, repo_id, revision):
    assert parse_preset(preset, BUILTINS) == HubHandle(repo_id, revision)
    assert str(HubHandle(repo_id, revision)) == preset


@pytest.mark.parametrize(
    "preset",
    [
        "hf://owner",
        "hf://owner/name/extra",
        "hf://../name",
        "hf://owner/..",
        "hf://owner/name@",
        "hf://owner/name@../main",
        "hf://own er/name",
    ],
)
def test_malformed_hub_handles(preset):
    with pytest.raises(ValueError, match="Accepted forms") as info:
        parse_preset(preset, BUILTINS)
    assert preset in str(info.value)


@pytest.mark.parametrize(
    "preset", ["hf-hub:owner/name", "https://huggingface.co/owner/name", "gs://b/x"]
)
def test_other_schemes_are_refused(preset):
    with pytest.raises(ValueError, match="only the 'hf://' scheme"):
        parse_preset(preset, BUILTINS)


def test_local_directory(tmp_path):
    assert parse_preset(str(tmp_path), BUILTINS) == LocalHandle(tmp_path)
    assert parse_preset(tmp_path, BUILTINS) == LocalHandle(tmp_path)


def test_missing_path_lists_accepted_forms(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(ValueError, match="does not exist") as info:
        parse_preset(missing, BUILTINS)
    assert missing in str(info.value) and "hf://owner/name" in str(info.value)


def test_file_is_not_a_preset_directory(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        parse_preset(str(tmp_path / "f"), BUILTINS)


def test_unknown_name_lists_builtins_and_forms():
    with pytest.raises(ValueError) as info:
        parse_preset("gan_mnsit", BUILTINS)
    message = str(info.value)
    assert "'gan_mnsit'" in message and "gan_demo" in message
    assert "Accepted forms" in message


def test_bare_name_is_never_taken_for_a_directory(tmp_path, monkeypatch):
    (tmp_path / "my_preset").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"pass './my_preset'"):
        parse_preset("my_preset", BUILTINS)
    assert parse_preset("./my_preset", BUILTINS) == LocalHandle(
        tmp_path.joinpath("my_preset").relative_to(tmp_path)
    )


def test_builtin_name_wins_only_as_a_bare_word(tmp_path, monkeypatch):
    (tmp_path / "gan_demo").mkdir()
    monkeypatch.chdir(tmp_path)
    assert isinstance(parse_preset("gan_demo", BUILTINS), BuiltinHandle)
    assert isinstance(parse_preset("./gan_demo", BUILTINS), LocalHandle)


@pytest.mark.parametrize("preset", ["", None, 3])
def test_non_strings(preset):
    with pytest.raises(ValueError, match="non-empty string"):
        parse_preset(preset, BUILTINS)
