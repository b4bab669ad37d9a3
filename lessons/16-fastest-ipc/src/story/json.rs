//! `--json`: everything measured as one JSON document, for tools, instead of the story. Its
//! shape is what scripts read: keep it stable.

use l16_fastest_ipc::machine::Machine;
use l16_fastest_ipc::table::{Table, quote};

use super::sizes::Sizes;

/// Everything measured, as one JSON document.
pub fn print_json(machine: &Machine, sizes: &Sizes, tables: &[Table]) {
    let tables: Vec<String> = tables.iter().map(Table::json).collect();
    println!("{{");
    println!(
        "  \"machine\": {{\"cpu\": {}, \"virtual_cpus\": {}, \"kernel\": {}, \"usable_cpus\": {}, \
         \"cpus\": {:?}, \"hyperthread_siblings\": {}, \"build\": {}}},",
        quote(&machine.cpu_model),
        machine.virtual_cpus,
        quote(&machine.kernel),
        machine.usable,
        machine.cpus,
        machine.siblings,
        quote(machine.build)
    );
    println!(
        "  \"runs\": {}, \"warm_up\": {}, \"bytes_moved\": {}, \"chunk\": {}, \"ring\": {}, \
         \"slots\": {},",
        sizes.plan.runs,
        sizes.plan.warm_up,
        sizes.amount.bytes(),
        sizes.amount.chunk,
        sizes.ring,
        sizes.ring / sizes.amount.chunk
    );
    println!("  \"tables\": [\n    {}\n  ]", tables.join(",\n    "));
    println!("}}");
}
