//! A minimal pcap writer: UDP datagrams over IPv4 on 127.0.0.1, with the raw-IP
//! link type, so that tshark can dissect what the project writes.

use std::io::Write;

const LINKTYPE_RAW: u32 = 101;

/// Largest UDP payload an IPv4 datagram carries.
pub const MAX_PAYLOAD: usize = 65_507;

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes a pcap file with one UDP datagram per payload, from
/// 127.0.0.1:`port` to 127.0.0.1:`port`.
pub fn write_udp(out: &mut impl Write, port: u16, payloads: &[Vec<u8>]) -> std::io::Result<()> {
    // Global header: magic, version 2.4, zone, sigfigs, snaplen, link type.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&0i32.to_le_bytes())?;
    out.write_all(&0u32.to_le_bytes())?;
    out.write_all(&262_144u32.to_le_bytes())?;
    out.write_all(&LINKTYPE_RAW.to_le_bytes())?;
    for (i, payload) in payloads.iter().enumerate() {
        if payload.len() > MAX_PAYLOAD {
            return Err(std::io::Error::other(format!(
                "payload {i} of {} bytes does not fit a UDP datagram",
                payload.len()
            )));
        }
        let udp_len = 8 + payload.len();
        let ip_len = 20 + udp_len;
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&(i as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[127, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[127, 0, 0, 1]);
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut udp = [0u8; 8];
        udp[0..2].copy_from_slice(&port.to_be_bytes());
        udp[2..4].copy_from_slice(&port.to_be_bytes());
        udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        // Record header: seconds, microseconds, captured and original length.
        out.write_all(&(1_700_000_000u32 + i as u32).to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&(ip_len as u32).to_le_bytes())?;
        out.write_all(&(ip_len as u32).to_le_bytes())?;
        out.write_all(&ip)?;
        out.write_all(&udp)?;
        out.write_all(payload)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_checksum_verifies() {
        let mut file = Vec::new();
        write_udp(&mut file, 5060, &[b"hello".to_vec()]).unwrap();
        let ip = &file[24 + 16..24 + 16 + 20];
        // A header with its checksum in place sums to zero.
        assert_eq!(checksum(ip), 0);
        assert_eq!(file.len(), 24 + 16 + 20 + 8 + 5);
    }

    #[test]
    fn oversized_payload_is_an_error() {
        let mut file = Vec::new();
        assert!(write_udp(&mut file, 5060, &[vec![0; MAX_PAYLOAD + 1]]).is_err());
    }
}
