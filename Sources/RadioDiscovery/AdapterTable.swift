// GENERATED from udev-rules/adapters.tsv by scripts/udev-rules.py:
// edit the table and run `make udev-rules`, not this file.

extension AdapterID {
    /// The adapters radios are attached by, as udev-rules/60-radio.rules matches them.
    public static let known: [AdapterID] = [
        AdapterID(vendor: 0x0403, product: 0x6001, productPattern: "HIL Radio*", driver: "ftdi_sio",
                  name: "FTDI FT232R with the radio's product string"),
        AdapterID(vendor: 0x0403, product: 0x6015, productPattern: "HIL Radio*", driver: "ftdi_sio",
                  name: "FTDI FT231X/FT230X with the radio's product string"),
        AdapterID(vendor: 0x0403, product: 0x6014, productPattern: "HIL Radio*", driver: "ftdi_sio",
                  name: "FTDI FT232H with the radio's product string"),
        AdapterID(vendor: 0x10c4, product: 0xea60, productPattern: "HIL Radio*", driver: "cp210x",
                  name: "Silicon Labs CP210x with the radio's product string"),
    ]
}
