package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Each family's read-only variables are set through the VariableSpecs struct
// bpf2go generates for its object, so a variable renamed or dropped in C
// fails the build here (the field is gone) or fails the load loudly
// (CollectionSpec.Assign names the missing variable), and can never leave
// the process filter unset in silence.

// scopeVars are the filter variables of lab.h, present in every object.
type scopeVars struct {
	tgid, cgroupID, cgroupV1 *ebpf.VariableSpec
}

func (v scopeVars) set(sc scope) error {
	return errors.Join(
		setVar("filter_tgid", v.tgid, sc.tgid),
		setVar("filter_cgroup_id", v.cgroupID, sc.cgroupID),
		setVar("filter_cgroup_v1", v.cgroupV1, boolByte(sc.cgroupV1)),
	)
}

func setVar(name string, vs *ebpf.VariableSpec, value any) error {
	if err := vs.Set(value); err != nil {
		return fmt.Errorf("setting %s: %w", name, err)
	}
	return nil
}

// assignVars fills vars (a generated *xxxVariableSpecs) from spec.
func assignVars(spec *ebpf.CollectionSpec, vars any) error {
	if err := spec.Assign(vars); err != nil {
		return fmt.Errorf("finding the object's variables: %w", err)
	}
	return nil
}

func setFsyncVars(spec *ebpf.CollectionSpec, sc scope) error {
	var v fsyncVariableSpecs
	if err := assignVars(spec, &v); err != nil {
		return err
	}
	return errors.Join(scopeVars{v.FilterTgid, v.FilterCgroupId, v.FilterCgroupV1}.set(sc),
		setVar("filter_dev", v.FilterDev, sc.dev))
}

func setPagecacheVars(spec *ebpf.CollectionSpec, sc scope) error {
	var v pagecacheVariableSpecs
	if err := assignVars(spec, &v); err != nil {
		return err
	}
	return errors.Join(scopeVars{v.FilterTgid, v.FilterCgroupId, v.FilterCgroupV1}.set(sc),
		setVar("page_shift", v.PageShift, uint32(pageShift())))
}

func setSwapVars(spec *ebpf.CollectionSpec, sc scope) error {
	var v swapVariableSpecs
	if err := assignVars(spec, &v); err != nil {
		return err
	}
	return scopeVars{v.FilterTgid, v.FilterCgroupId, v.FilterCgroupV1}.set(sc)
}

func setSockbufVars(spec *ebpf.CollectionSpec, sc scope) error {
	var v sockbufVariableSpecs
	if err := assignVars(spec, &v); err != nil {
		return err
	}
	return errors.Join(scopeVars{v.FilterTgid, v.FilterCgroupId, v.FilterCgroupV1}.set(sc),
		setVar("kfree_skb_has_rx_sk", v.KfreeSkbHasRxSk, boolByte(tracepointArgs("kfree_skb") >= 4)))
}

func setSendfileVars(spec *ebpf.CollectionSpec, sc scope) error {
	var v sendfileVariableSpecs
	if err := assignVars(spec, &v); err != nil {
		return err
	}
	return scopeVars{v.FilterTgid, v.FilterCgroupId, v.FilterCgroupV1}.set(sc)
}
