use std::path::PathBuf;

use crate::api;
use crate::client::Client;

use super::list::{table, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the images in the local store.
    #[command(alias = "ls")]
    List {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one image (alias, name it was launched by, or fingerprint prefix).
    Info {
        image: String,
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Delete an image from the store (containers made from it keep their rootfs).
    #[command(alias = "rm")]
    Delete { image: String },
    /// Import a rootfs tarball, an Incus unified tarball, or a metadata + rootfs pair
    /// (Incus split format or LXC's meta.tar.xz + rootfs.tar.xz), in either order.
    Import {
        /// ROOTFS.tar[.xz|.gz|.zst] [META.tar.xz]
        #[arg(required = true, num_args = 1..=2)]
        files: Vec<PathBuf>,
        /// Name it (repeatable).
        #[arg(long)]
        alias: Vec<String>,
    },
    /// Write an image's files (as imported or downloaded) into a directory.
    Export {
        image: String,
        /// Directory to write into [default: .]
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Build an image from a template recipe (debootstrap): debian/13, ubuntu/24.04.
    Build { name: String },
    /// Image aliases.
    Alias {
        #[command(subcommand)]
        command: AliasCommand,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum AliasCommand {
    /// Point ALIAS at an image.
    Add { alias: String, image: String },
    /// Remove an alias (the image stays).
    #[command(alias = "rm")]
    Remove { alias: String },
    /// List aliases and the images they point at.
    #[command(alias = "ls")]
    List,
}

fn short(fp: &str) -> &str {
    &fp[..fp.len().min(12)]
}

fn date(secs: i64) -> String {
    // YYYY-MM-DD from days since the epoch (civil-from-days).
    let z = secs.div_euclid(86400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn print(i: &api::Image) {
    println!("Fingerprint: {}", i.fingerprint);
    println!("Name: {}", i.name);
    if !i.description.is_empty() {
        println!("Description: {}", i.description);
    }
    println!("Aliases: {}", if i.aliases.is_empty() { "-".into() } else { i.aliases.join(", ") });
    println!("Architecture: {}", i.architecture);
    println!("Created: {}", date(i.created));
    println!("Source: {}", i.source);
    if !i.names.is_empty() {
        println!("Launched as: {}", i.names.join(", "));
    }
    println!("Size: {} (unpacked {})", super::size(i.size), super::size(i.unpacked_size));
    for f in &i.files {
        println!("File: {} ({}, {}) sha256 {}", f.name, f.role, super::size(f.size), f.sha256);
    }
    for (k, v) in &i.properties {
        println!("Property {k}: {v}");
    }
    for (k, v) in &i.requirements {
        println!("Requires {k}: {v}");
    }
    for (p, when) in &i.templates {
        println!("Template {p}: at {}", when.join(", "));
    }
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    match a.command {
        Command::List { format } => {
            let all = client.image_list()?;
            if matches!(format, Format::Json) {
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(0);
            }
            let rows: Vec<[String; 7]> = all
                .iter()
                .map(|i| {
                    [
                        if i.aliases.is_empty() { "-".into() } else { i.aliases.join(",") },
                        short(&i.fingerprint).into(),
                        i.name.clone(),
                        i.description.clone(),
                        i.source.clone(),
                        super::size(i.size),
                        date(i.created),
                    ]
                })
                .collect();
            print!("{}", table(["ALIAS", "FINGERPRINT", "NAME", "DESCRIPTION", "SOURCE", "SIZE", "CREATED"], &rows));
        }
        Command::Info { image, format } => {
            let i = client.image_info(&image)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&i)?),
                Format::Table => print(&i),
            }
        }
        Command::Delete { image } => {
            let fp = client.image_delete(&image)?;
            println!("Deleted image {}", short(&fp));
        }
        Command::Import { files, alias } => {
            let req = api::ImagesPost { files: files.iter().map(|f| f.to_string_lossy().into_owned()).collect(), aliases: alias };
            let i = client.image_import(&req)?;
            println!("Imported {} ({})", i.fingerprint, i.name);
        }
        Command::Export { image, dir } => {
            for p in client.image_export(&image, &dir)? {
                println!("{}", p.display());
            }
        }
        Command::Build { name } => {
            let (i, notes) = client.image_build(&name)?;
            super::note(&notes);
            println!("Built {} ({})", i.fingerprint, i.name);
        }
        Command::Alias { command } => match command {
            AliasCommand::Add { alias, image } => client.image_alias_add(&alias, &image)?,
            AliasCommand::Remove { alias } => client.image_alias_remove(&alias)?,
            AliasCommand::List => {
                let rows: Vec<[String; 2]> = client.image_aliases()?.into_iter().map(|(a, fp)| [a, short(&fp).to_owned()]).collect();
                print!("{}", table(["ALIAS", "FINGERPRINT"], &rows));
            }
        },
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(1_700_000_000), "2023-11-14");
        assert_eq!(super::date(951_782_400), "2000-02-29");
    }
}
