//! Rust and WGSL kept in step: every uniform or storage struct of every composed kernel module
//! (device::kernels) against its `#[repr(C)]` host twin (device::layout: size, and each
//! member's name and offset, from naga's layout), and every constant generated from Rust
//! (device::constants) against the value naga reads from the module, bit for bit. No GPU needed.

use balnet::device::constants::WgslValue;
use balnet::device::kernels::KernelSource;
use balnet::device::layout::HostLayout;
use balnet::kernels::host_layouts;
use balnet::kernels::kernel_sources;
use std::collections::{BTreeMap, BTreeSet};

fn parse(k: &KernelSource) -> naga::Module {
    naga::front::wgsl::parse_str(&k.source)
        .unwrap_or_else(|e| panic!("{}: {}", k.label, e.emit_to_string(&k.source)))
}

/// The struct types a uniform or storage binding of `module` reads, nested ones included.
fn bound_structs(module: &naga::Module) -> BTreeSet<naga::Handle<naga::Type>> {
    fn visit(
        module: &naga::Module,
        ty: naga::Handle<naga::Type>,
        out: &mut BTreeSet<naga::Handle<naga::Type>>,
    ) {
        match &module.types[ty].inner {
            naga::TypeInner::Struct { members, .. } if out.insert(ty) => {
                for m in members {
                    visit(module, m.ty, out);
                }
            }
            naga::TypeInner::Array { base, .. } => visit(module, *base, out),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for (_, g) in module.global_variables.iter() {
        if matches!(
            g.space,
            naga::AddressSpace::Uniform | naga::AddressSpace::Storage { .. }
        ) {
            visit(module, g.ty, &mut out);
        }
    }
    out
}

/// The differences between WGSL struct `ty` and its host twin.
fn compare(
    module: &naga::Module,
    layouter: &naga::proc::Layouter,
    ty: naga::Handle<naga::Type>,
    host: &HostLayout,
) -> Vec<String> {
    let naga::TypeInner::Struct { members, span } = &module.types[ty].inner else {
        unreachable!()
    };
    let who = format!("WGSL {} / Rust {}", host.wgsl_name, host.rust_name);
    let mut errs = Vec::new();
    if *span as usize != host.size {
        errs.push(format!(
            "{who}: WGSL size {span} bytes, Rust size_of {}",
            host.size
        ));
    }
    let mut wgsl = members.iter();
    for f in host.fields {
        let mut at = f.offset;
        for &want in f.wgsl {
            let Some(m) = wgsl.next() else {
                errs.push(format!(
                    "{who}: Rust field `{}` (offset {}) expects WGSL member `{want}` at offset {at}; the WGSL struct has no more members",
                    f.name, f.offset
                ));
                return errs;
            };
            let name = m.name.as_deref().unwrap_or("?");
            if name != want || m.offset as usize != at {
                errs.push(format!(
                    "{who}: Rust field `{}` (offset {}, {} bytes) expects WGSL member `{want}` at offset {at}; WGSL has `{name}` at offset {}",
                    f.name, f.offset, f.size, m.offset
                ));
            }
            at = m.offset as usize + layouter[m.ty].size as usize;
        }
        if !f.wgsl.is_empty() && at != f.offset + f.size {
            errs.push(format!(
                "{who}: Rust field `{}` spans [{}, {}), its WGSL members [{}, {at})",
                f.name,
                f.offset,
                f.offset + f.size,
                f.offset
            ));
        }
    }
    for m in wgsl {
        errs.push(format!(
            "{who}: WGSL member `{}` at offset {} has no Rust field",
            m.name.as_deref().unwrap_or("?"),
            m.offset
        ));
    }
    errs
}

#[test]
fn host_structs_match_wgsl_layouts() {
    let hosts = host_layouts();
    let by_name: BTreeMap<&str, &HostLayout> = hosts.iter().map(|h| (h.wgsl_name, h)).collect();
    assert_eq!(
        by_name.len(),
        hosts.len(),
        "two host twins of one WGSL name"
    );
    // Every difference, with the first module it shows in.
    let mut errs: BTreeMap<String, String> = BTreeMap::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let sources = kernel_sources();
    for k in &sources {
        let module = parse(k);
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).expect("layout");
        for ty in bound_structs(&module) {
            let name = module.types[ty].name.clone().unwrap_or_default();
            let Some(host) = by_name.get(name.as_str()) else {
                errs.entry(format!(
                    "WGSL struct {name} is read through a uniform or storage binding but has no host twin (declare it with balnet::gpu_struct! and list it in kernels::host_layouts)"
                ))
                .or_insert(k.label.clone());
                continue;
            };
            *seen.entry(host.wgsl_name).or_default() += 1;
            for e in compare(&module, &layouter, ty, host) {
                errs.entry(e).or_insert(k.label.clone());
            }
        }
    }
    for h in &hosts {
        if !seen.contains_key(h.wgsl_name) {
            errs.entry(format!(
                "Rust {} has no WGSL struct {} in any uniform or storage binding",
                h.rust_name, h.wgsl_name
            ))
            .or_default();
        }
    }
    eprintln!(
        "{} modules; structs compared (modules each): {seen:?}",
        sources.len()
    );
    let report: Vec<String> = errs
        .iter()
        .map(|(e, module)| format!("{e}   [first in module: {module}]"))
        .collect();
    assert!(
        report.is_empty(),
        "{} layout differences:\n{}",
        report.len(),
        report.join("\n")
    );
}

#[test]
fn generated_constants_read_back_bit_for_bit() {
    let mut checked = 0;
    for k in kernel_sources() {
        let module = parse(&k);
        for g in &k.generated {
            let (_, c) = module
                .constants
                .iter()
                .find(|(_, c)| c.name.as_deref() == Some(g.name))
                .unwrap_or_else(|| panic!("{}: no constant {}", k.label, g.name));
            let lit = match module.global_expressions[c.init] {
                naga::Expression::Literal(l) => l,
                ref e => panic!("{}: {} is not a literal: {e:?}", k.label, g.name),
            };
            match (g.value, lit) {
                (WgslValue::U32(want), naga::Literal::U32(got)) => {
                    assert_eq!(got, want, "{}: {}", k.label, g.name)
                }
                (WgslValue::F32(want), naga::Literal::F32(got)) => assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{}: {} = {got:e}, Rust {want:e}",
                    k.label,
                    g.name
                ),
                (want, got) => panic!("{}: {} is {got:?}, Rust {want:?}", k.label, g.name),
            }
            checked += 1;
        }
    }
    eprintln!("{checked} generated constants checked");
}
