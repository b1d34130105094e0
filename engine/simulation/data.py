"""Reference data and probabilities of the simulated TMS workload (docs/tms.md)."""

from datetime import datetime, timedelta, timezone

BASE_TIME = datetime(2024, 3, 4, 5, 0, 0, tzinfo=timezone.utc)
SCANNER_UTC_OFFSET = timedelta(hours=1)   # handling_unit.last_scan_local: CET wall clock
FIRST_TX_ID = 7_400
FIRST_LSN = 0x2A00_0000

BUSINESS_EVENT_TYPES = ("PickupCompleted", "PickupFailed", "ShipmentDeparted", "EtaUpdated",
                        "ShipmentDelivered")

CITIES = [("Milano", "IT"), ("Torino", "IT"), ("Bologna", "IT"), ("Verona", "IT"),
          ("Bergamo", "IT"), ("Brescia", "IT"), ("Padova", "IT"), ("Genova", "IT"),
          ("Parma", "IT"), ("Lugano", "CH")]
DEPOTS = ["Piacenza Hub", "Lodi Hub", "Novara Hub"]
CUSTOMERS = ["C-ACME", "C-BRAVO", "C-CORTI", "C-DELTA", "C-EMILIA", "C-FARMA", "C-GUSTO"]
STREETS = ["Via Roma", "Corso Italia", "Via Garibaldi", "Viale Europa", "Via Dante",
           "Via Mazzini", "Via Verdi", "Piazza Duomo"]
CARRIERS = ["TRS-NORD", "LOGI-PO", "FAST-IT"]
DRIVERS = ["Marco Bianchi", "Luca Rossi", "Giulia Conti", "Paolo Ferri", "Sara Gallo",
           "Andrea Greco", "Elena Rinaldi"]
FAILURE_REASONS = ["customer_absent", "goods_not_ready", "address_not_found",
                   "vehicle_breakdown"]
HU_KINDS = [("pallet", 120, 650), ("parcel", 1, 30), ("crate", 15, 120), ("roll_cage", 40, 250)]
INSTRUCTIONS = ["Call the customer 30 minutes before arrival.",
                "Deliver to the rear entrance, loading bay 2.",
                "Tail-lift required.",
                "Goods are fragile: do not stack.",
                "Reception closes at 17:00.",
                "Ask for the warehouse manager on arrival."]
ETA_SHIFTS_MIN = [0, 0, 0, 5, 10, 15, 20, 35, -5, -10]

P_NOTE = 0.55
P_NOTE_EDIT = 0.6
P_NOTE_DELETE = 0.1
P_CUSTOMER_CANCEL = 0.05
P_PICKUP_FAIL = (0.15, 0.35)      # first attempt, second attempt (second failure cancels)
P_DRIVER_NOTE = 0.3

# topologies/velocity/fast_storage.yaml's micro_batch chunks (key moves cover both chunk orders)
FAST_STORAGE_CHUNKS = 2
