"""redact(): credential values never reach a log line, whatever the variable is called."""

from mlnb.secrets import redact


def test_known_token_variables_and_token_shapes_are_hidden(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "plainvalue123")
    line = redact("token plainvalue123 and hf_abcdefghijkl and sk-abcdefghijkl")
    assert "plainvalue123" not in line and "hf_abcdefghijkl" not in line and "sk-abcdefghijkl" not in line
    assert line.count("***") == 3


def test_a_custom_api_key_env_is_hidden_when_named(monkeypatch):
    monkeypatch.setenv("INFERENCE_CREDENTIAL", "c0ffee-c0ffee")
    assert "c0ffee-c0ffee" in redact("key=c0ffee-c0ffee")  # nothing says this variable is secret
    assert redact("key=c0ffee-c0ffee", ("INFERENCE_CREDENTIAL",)) == "key=***"


def test_variables_named_like_credentials_are_hidden_without_being_named(monkeypatch):
    monkeypatch.setenv("MY_SERVER_API_KEY", "s3cr3t-value")
    monkeypatch.setenv("GATEWAY_PASSWORD", "hunter2hunter2")
    line = redact("curl -H 'Authorization: Bearer s3cr3t-value' -u admin:hunter2hunter2")
    assert "s3cr3t-value" not in line and "hunter2hunter2" not in line


def test_ordinary_variables_and_short_values_are_left_alone(monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setenv("MAX_TOKEN", "12")  # too short to hide without blanking ordinary numbers
    monkeypatch.setenv("MLNB_CACHE_DIR", "/some/cache/dir")
    text = "parallelism false, 12 tokens, cache /some/cache/dir"
    assert redact(text) == text


def test_a_secret_that_contains_another_is_hidden_whole(monkeypatch):
    monkeypatch.setenv("OUTER_TOKEN", "abcdef-123456")
    monkeypatch.setenv("INNER_TOKEN", "abcdef")
    assert redact("x abcdef-123456 y") == "x *** y"


def test_more_token_shapes_are_hidden():
    from mlnb.secrets import redact

    shapes = ["ghp_" + "a" * 36, "AKIA" + "B" * 16, "xoxb-" + "1" * 12, "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.c2ln",
              "Bearer abcdefghijklmnopqrstuvwx"]
    for shape in shapes:
        assert redact(f"x {shape} y").count("***") == 1, shape


def test_credential_names():
    from mlnb.secrets import is_credential_name

    for name in ("api_key", "hf_token", "password", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "key"):
        assert is_credential_name(name), name
    for name in ("api_key_env", "model_key", "max_new_tokens", "tokenizer", "mmlu_task"):
        assert not is_credential_name(name), name


def test_a_credential_parameter_is_refused_without_repeating_it(monkeypatch):
    import pytest

    from mlnb.errors import InputError
    from mlnb.secrets import check_not_secret

    monkeypatch.setenv("GATEWAY_PASSWORD", "hunter2hunter2")
    for name, value in (("api_key", "anything-at-all"), ("served_model_name", "sk-abcdefghijkl"),
                        ("model", "hunter2hunter2")):
        with pytest.raises(InputError) as err:
            check_not_secret(f"--set {name}=", name, value)
        assert value not in str(err.value) and f"--set {name}=***" in str(err.value)
    check_not_secret("--set model=", "model", "embedded")  # an ordinary value passes


def test_redact_file_masks_in_place(tmp_path, monkeypatch):
    from mlnb.secrets import redact_file

    monkeypatch.setenv("MY_API_KEY", "s3cr3t-value")
    path = tmp_path / "nb.ipynb"
    path.write_text('{"text": "key s3cr3t-value and hf_abcdefghijkl"}')
    assert redact_file(path) and path.read_text() == '{"text": "key *** and ***"}'
    assert not redact_file(path)  # nothing left to mask


def test_no_stage_parameter_is_taken_for_a_credential():
    """A --set of any real parameter must pass the credential-name check (sim_prefill_ms_per_token once failed)."""
    from mlnb.config import StageParams
    from mlnb.secrets import is_credential_name

    assert [name for name in StageParams.model_fields if is_credential_name(name)] == []
    assert is_credential_name("hf_token") and is_credential_name("api_key") and is_credential_name("token")
