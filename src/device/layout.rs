//! The host twins of the kernels' uniform and storage structs: each `#[repr(C)]` struct that
//! is copied into a buffer a WGSL struct reads is declared through `gpu_struct!`, which records
//! every field's offset and size and the WGSL members it stands for, so that
//! `tests/wgsl_layout.rs` can compare both sides with naga's layout of the compiled modules.

/// One field of a host struct: where it lies, and the WGSL members that cover it, in order
/// (one member of the same name by default; an array the WGSL side spells out member by
/// member, e.g. `decay: [f32; 2]` as `decay_e, decay_i`, lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostField {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
    pub wgsl: &'static [&'static str],
}

/// A struct declared by `gpu_struct!`.
pub trait GpuStruct: Sized {
    const RUST_NAME: &'static str;
    const FIELDS: &'static [HostField];
}

/// The layout of one host struct and the name of its WGSL twin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostLayout {
    pub rust_name: &'static str,
    pub wgsl_name: &'static str,
    pub size: usize,
    pub fields: &'static [HostField],
}

impl HostLayout {
    pub fn of<T: GpuStruct>(wgsl_name: &'static str) -> Self {
        HostLayout {
            rust_name: T::RUST_NAME,
            wgsl_name,
            size: std::mem::size_of::<T>(),
            fields: T::FIELDS,
        }
    }
}

/// The WGSL member names of one field (its own name unless listed).
#[doc(hidden)]
#[macro_export]
macro_rules! gpu_struct_wgsl_names {
    ($field:ident) => {
        &[stringify!($field)]
    };
    ($field:ident => [$($wgsl:ident),*]) => {
        &[$(stringify!($wgsl)),*]
    };
}

/// Declares a struct (give it `#[repr(C)]`) and implements `GpuStruct` for it. A field may
/// name the WGSL members it stands for: `decay: [f32; 2] => [decay_e, decay_i],`.
#[macro_export]
macro_rules! gpu_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $fvis:vis $field:ident : $ty:ty $(=> [$($wgsl:ident),*])?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty,)*
        }

        impl $crate::device::layout::GpuStruct for $name {
            const RUST_NAME: &'static str = stringify!($name);
            const FIELDS: &'static [$crate::device::layout::HostField] = &[
                $($crate::device::layout::HostField {
                    name: stringify!($field),
                    offset: ::std::mem::offset_of!($name, $field),
                    size: ::std::mem::size_of::<$ty>(),
                    wgsl: $crate::gpu_struct_wgsl_names!($field $(=> [$($wgsl),*])?),
                },)*
            ];
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::gpu_struct! {
        #[repr(C)]
        #[allow(dead_code)]
        struct Probe {
            a: u32,
            /// documented
            b: [f32; 2] => [b_e, b_i],
            _pad: u32 => [],
        }
    }

    #[test]
    fn gpu_struct_records_fields() {
        let l = HostLayout::of::<Probe>("ProbeW");
        assert_eq!(l.size, 16);
        assert_eq!(l.rust_name, "Probe");
        assert_eq!(
            l.fields,
            &[
                HostField {
                    name: "a",
                    offset: 0,
                    size: 4,
                    wgsl: &["a"]
                },
                HostField {
                    name: "b",
                    offset: 4,
                    size: 8,
                    wgsl: &["b_e", "b_i"]
                },
                HostField {
                    name: "_pad",
                    offset: 12,
                    size: 4,
                    wgsl: &[]
                },
            ]
        );
    }
}
