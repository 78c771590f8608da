//! Helpers over `roxmltree` that report positions as original file:line.

use roxmltree::{Document, Node};

use super::error::{ConfigError, Location};
use super::preprocess::Expanded;

/// Parses preprocessed text; a syntax error points at the original file and line.
pub(crate) fn parse(expanded: &Expanded) -> Result<Document<'_>, ConfigError> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 4_000_000,
        ..roxmltree::ParsingOptions::default()
    };
    Document::parse_with_options(&expanded.text, options).map_err(|e| {
        let pos = e.pos();
        ConfigError::Xml {
            at: expanded.location(pos.row),
            message: e.to_string(),
        }
    })
}

/// Where `node` starts, as an original file and line.
pub(crate) fn loc(expanded: &Expanded, node: Node<'_, '_>) -> Location {
    let pos = node.document().text_pos_at(node.range().start);
    expanded.location(pos.row)
}

/// Element children of `node` named `name` (case-sensitive, as FreeSWITCH).
pub(crate) fn children<'a, 'i>(
    node: Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The first element child of `node` named `name`.
pub(crate) fn child<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    children(node, name).next()
}

/// `<param name= value=>` (or `<variable ...>`) pairs under `node`, with
/// their locations. A missing `value` is the empty string (FreeSWITCH's
/// `switch_xml_attr_soft`); a missing or empty `name` is an error.
pub(crate) fn name_values(
    expanded: &Expanded,
    node: Node<'_, '_>,
    element: &'static str,
) -> Result<Vec<(String, String, Location)>, ConfigError> {
    let mut out = Vec::new();
    for p in children(node, element) {
        let at = loc(expanded, p);
        let name = p.attribute("name").map(str::trim).unwrap_or("");
        if name.is_empty() {
            return Err(ConfigError::Missing {
                at,
                what: format!("<{element}> without a name"),
            });
        }
        let value = p.attribute("value").unwrap_or("");
        out.push((name.to_string(), value.to_string(), at));
    }
    Ok(out)
}
