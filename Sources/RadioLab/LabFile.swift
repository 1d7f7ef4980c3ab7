import CYAML

/// A lab file: names for radios, so that `--port bench-3` and `radio-cli
/// places` reach them wherever they are served. YAML, read with libyaml:
///
///     places:
///       bench-3: tcp://lab-pc-3:7362
///       bench-4:
///         port: unix:///run/radio/B4.sock
///         description: BER rig, 30 dB pad
///
/// A name is letters, digits, '.', '_' and '-' (it never holds '/' or ':',
/// which mark paths and URLs). Anything else in the file is an error that
/// names its line: a misspelt key must not pass unnoticed.
public struct LabFile: Sendable, Equatable {
    public struct Place: Sendable, Equatable {
        public var name: String
        public var port: String
        public var description: String
        /// The file and line it came from (1-based), for error messages.
        public var file: String
        public var line: Int
    }

    public var places: [Place]

    public init(places: [Place] = []) { self.places = places }

    public func place(named name: String) -> Place? { places.first { $0.name == name } }

    /// Whether `text` has the shape of a place name rather than a path or URL.
    public static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
        } && text.first != "-" && text != "." && text != ".."
    }

    /// Parses a lab file's text; `file` names it in errors.
    public static func parse(_ text: String, file: String) throws(LabFileError) -> LabFile {
        let root = try YAMLNode.parse(text, file: file)
        var lab = LabFile()
        guard let root, root.scalar != "" else { return lab }
        guard case .mapping(let top) = root.value else {
            throw LabFileError(file: file, line: root.line, "the file must be a mapping with a 'places' key")
        }
        for (key, value) in top {
            guard key.scalar == "places" else {
                throw LabFileError(file: file, line: key.line, "unknown key '\(key.scalar ?? "?")' (the file has 'places')")
            }
            if case .scalar(let s) = value.value, s.isEmpty { continue }  // "places:" with nothing under it
            guard case .mapping(let entries) = value.value else {
                throw LabFileError(file: file, line: value.line, "'places' must map names to ports")
            }
            for (nameNode, entry) in entries {
                guard let name = nameNode.scalar, isName(name) else {
                    throw LabFileError(file: file, line: nameNode.line,
                                       "'\(nameNode.scalar ?? "?")' is not a place name (letters, digits, '.', '_', '-')")
                }
                guard !lab.places.contains(where: { $0.name == name }) else {
                    throw LabFileError(file: file, line: nameNode.line, "place '\(name)' is named twice")
                }
                var place = Place(name: name, port: "", description: "", file: file, line: nameNode.line)
                switch entry.value {
                case .scalar(let port):
                    place.port = port
                case .mapping(let fields):
                    for (k, v) in fields {
                        guard let s = v.scalar else {
                            throw LabFileError(file: file, line: v.line, "place '\(name)': '\(k.scalar ?? "?")' must be text")
                        }
                        switch k.scalar {
                        case "port": place.port = s
                        case "description": place.description = s
                        default:
                            throw LabFileError(file: file, line: k.line,
                                               "place '\(name)': unknown key '\(k.scalar ?? "?")' (known: port, description)")
                        }
                    }
                case .sequence:
                    throw LabFileError(file: file, line: entry.line, "place '\(name)' must be a port, or port: and description:")
                }
                guard !place.port.isEmpty else {
                    throw LabFileError(file: file, line: entry.line, "place '\(name)' has no port")
                }
                lab.places.append(place)
            }
        }
        return lab
    }

    /// The places of several files, later files' names replacing earlier ones'.
    public func merging(_ other: LabFile) -> LabFile {
        var merged = places.filter { p in other.place(named: p.name) == nil }
        merged += other.places
        return LabFile(places: merged)
    }
}

public struct LabFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var problem: String

    init(file: String, line: Int, _ problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }

    public var description: String { "\(file):\(line): \(problem)" }
}

/// A YAML document as nested scalars, mappings and sequences, each with
/// its line: all the lab file needs (no tags, no aliases).
struct YAMLNode {
    enum Value {
        case scalar(String)
        case mapping([(YAMLNode, YAMLNode)])
        case sequence([YAMLNode])
    }

    var value: Value
    var line: Int

    var scalar: String? { if case .scalar(let s) = value { s } else { nil } }

    /// The first document, or nil when the text holds none (empty, comments only).
    static func parse(_ text: String, file: String) throws(LabFileError) -> YAMLNode? {
        // On the heap, where libyaml's state stays put between calls.
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        parser.initialize(to: yaml_parser_t())
        guard yaml_parser_initialize(parser) == 1 else { throw LabFileError(file: file, line: 0, "out of memory") }
        defer { yaml_parser_delete(parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { (buffer) throws(LabFileError) -> YAMLNode? in
            yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
            var reader = EventReader(parser: parser, file: file)
            return try reader.document()
        }
    }

    /// Pulls libyaml's events and builds nodes from them.
    private struct EventReader {
        let parser: UnsafeMutablePointer<yaml_parser_t>
        let file: String

        enum Event {
            case streamStart, streamEnd, documentStart, documentEnd
            case scalar(String)
            case mappingStart, mappingEnd, sequenceStart, sequenceEnd
            case alias
        }

        mutating func next() throws(LabFileError) -> (Event, Int) {
            var event = yaml_event_t()
            guard yaml_parser_parse(parser, &event) == 1 else {
                let problem = parser.pointee.problem.map { String(cString: $0) } ?? "not YAML"
                throw LabFileError(file: file, line: Int(parser.pointee.problem_mark.line) + 1, "not valid YAML: \(problem)")
            }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            switch event.type {
            case YAML_STREAM_START_EVENT: return (.streamStart, line)
            case YAML_STREAM_END_EVENT: return (.streamEnd, line)
            case YAML_DOCUMENT_START_EVENT: return (.documentStart, line)
            case YAML_DOCUMENT_END_EVENT: return (.documentEnd, line)
            case YAML_MAPPING_START_EVENT: return (.mappingStart, line)
            case YAML_MAPPING_END_EVENT: return (.mappingEnd, line)
            case YAML_SEQUENCE_START_EVENT: return (.sequenceStart, line)
            case YAML_SEQUENCE_END_EVENT: return (.sequenceEnd, line)
            case YAML_ALIAS_EVENT: return (.alias, line)
            case YAML_SCALAR_EVENT:
                let s = event.data.scalar
                let text = s.value.map { p in
                    String(decoding: UnsafeBufferPointer(start: p, count: s.length), as: UTF8.self)
                } ?? ""
                return (.scalar(text), line)
            default:
                return (.alias, line)
            }
        }

        mutating func document() throws(LabFileError) -> YAMLNode? {
            while true {
                let (event, line) = try next()
                switch event {
                case .streamStart: continue
                case .streamEnd: return nil
                case .documentStart: return try node(try next())
                default: throw LabFileError(file: file, line: line, "not valid YAML")
                }
            }
        }

        mutating func node(_ first: (Event, Int)) throws(LabFileError) -> YAMLNode {
            let (event, line) = first
            switch event {
            case .scalar(let s):
                return YAMLNode(value: .scalar(s), line: line)
            case .mappingStart:
                var pairs: [(YAMLNode, YAMLNode)] = []
                while true {
                    let key = try next()
                    if case .mappingEnd = key.0 { return YAMLNode(value: .mapping(pairs), line: line) }
                    let k = try node(key)
                    pairs.append((k, try node(try next())))
                }
            case .sequenceStart:
                var items: [YAMLNode] = []
                while true {
                    let item = try next()
                    if case .sequenceEnd = item.0 { return YAMLNode(value: .sequence(items), line: line) }
                    items.append(try node(item))
                }
            case .alias:
                throw LabFileError(file: file, line: line, "aliases (*name) are not used in a lab file")
            default:
                throw LabFileError(file: file, line: line, "not valid YAML")
            }
        }
    }
}
