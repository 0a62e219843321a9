"""Presets and parameter validation."""
import pytest

from facelib.config import PRESETS, get_config


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_are_valid_and_give_the_compared_arms_one_budget(preset):
    cfg = get_config(preset)
    assert cfg.preset == preset
    # condition 4 sees as many labelled images as condition 3 and its controls, none stops early
    arms = (cfg.vcop_downstream, cfg.multitrain)
    assert len({(t.epochs, t.batch_size, t.lr, t.warmup_epochs) for t in arms}) == 1
    assert all(t.patience >= t.epochs for t in arms)
    assert len(cfg.backbone_lr_grid) >= 1 and cfg.korean_finetuned.loss == "weighted_l1"


def test_overrides_reach_nested_fields():
    cfg = get_config("demo", **{"vcop.epochs": 3}, baseline__lr=0.01, tuple_len=3)
    assert cfg.vcop.epochs == 3 and cfg.baseline.lr == 0.01 and cfg.tuple_len == 3


@pytest.mark.parametrize("kwargs,match", [
    ({"preset": "huge"}, "preset='huge' is not one of 'smoke', 'demo', 'mobilenet', 'full'"),
    ({"encoder": "vit"}, "encoder='vit' is not one of"),
    ({"tuple_len": 1}, "tuple_len=1: must be between 2 and 5"),
    ({"tuple_len": 7}, "tuple_len=7"),
    ({"order_loss": "mse"}, "order_loss='mse'"),
    ({"baseline.loss": "huber"}, "baseline.loss='huber'"),
    ({"vcop.loss": "soft"}, "vcop.loss='soft' is not used: the order loss of vcop and multitrain is order_loss"),
    ({"nonsense": 1}, "unknown config parameter 'nonsense'"),
    ({"utkface_share": 1.0}, "utkface_share=1.0: must be in"),
    ({"order_loss": "soft"}, "order_loss='soft' is a loss of the T! head"),
    ({"backbone_lr_grid": ()}, "backbone_lr_grid=\\(\\): give one or more multipliers"),
    ({"aihub_scratch.epochs": 3}, "unknown config parameter 'aihub_scratch'"),
])
def test_bad_parameters_fail_with_a_message(kwargs, match):
    preset = kwargs.pop("preset", "smoke")
    with pytest.raises(ValueError, match=match):
        get_config(preset, **kwargs)


def test_run_config_leaves_out_runtime_settings_selection_and_other_runs():
    a = get_config("demo", device="cpu", num_workers=4, amp=False, backbone_lr_grid=(0.5,), resplit_identities=False,
                   **{"multitrain.epochs": 3})
    b = get_config("demo")
    assert a.run_config() == b.run_config()
    assert get_config("demo", image_size=64).run_config() != b.run_config()
    assert get_config("demo", data_seed=1).run_config() != b.run_config()


def test_utkface_share_follows_its_fixed_rule_unless_set():
    assert get_config("demo").finetune_utkface_share() == 0.0            # AIHub alone, as the study defines it
    assert get_config("demo", identities="fgnet").finetune_utkface_share() == 0.5   # equal parts
    assert get_config("demo", identities="fgnet", utkface_share=0.2).finetune_utkface_share() == 0.2


def test_a_config_survives_its_json_round_trip():
    import json

    from facelib.config import config_from_dict
    cfg = get_config("demo", backbone_lr_grid=(0.1, 0.5))
    back = config_from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.run_config() == cfg.run_config() and back.backbone_lr_grid == (0.1, 0.5)
    old = {**cfg.to_dict(), "aihub_scratch": {"epochs": 8}}              # a checkpoint of an older facelib
    assert config_from_dict(old) == cfg
